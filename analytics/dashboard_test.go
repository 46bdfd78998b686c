package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	yamlv3 "gopkg.in/yaml.v3"
)

const (
	dashboardPath  = "../deploy/grafana/dashboards/cbarchive.json"
	datasourcePath = "../deploy/grafana/provisioning/datasources/cbarchive.yaml"
	composePath    = "../docker-compose.yml"
)

type dashboard struct {
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID  string `json:"refId"`
		RawSQL string `json:"rawSql"`
		Format string `json:"format"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // rows hold panels
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

var (
	macroTimeFilter = regexp.MustCompile(`\$__timeFilter\(\s*([^)]+?)\s*\)`)
	macroTimeGroup  = regexp.MustCompile(`\$__timeGroup(Alias)?\(\s*([^,]+?)\s*,\s*'?([0-9]+[smhd])'?\s*(?:,[^)]*)?\)`)
)

// expandMacros does what Grafana's PostgreSQL data source does to a panel's SQL for a time
// range and an interval (Go duration syntax plus d).
func expandMacros(sql string, from, to time.Time, interval string) (string, error) {
	lit := func(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339) + "'" }
	sql = strings.ReplaceAll(sql, "$__interval_ms", "0") // not used; keep it from matching below
	sql = strings.ReplaceAll(sql, "$__interval", interval)
	sql = strings.ReplaceAll(sql, "$__timeFrom()", lit(from))
	sql = strings.ReplaceAll(sql, "$__timeTo()", lit(to))
	sql = macroTimeFilter.ReplaceAllString(sql, "$1 BETWEEN "+lit(from)+" AND "+lit(to))
	var err error
	sql = macroTimeGroup.ReplaceAllStringFunc(sql, func(m string) string {
		g := macroTimeGroup.FindStringSubmatch(m)
		secs, e := intervalSeconds(g[3])
		if e != nil {
			err = e
			return m
		}
		out := fmt.Sprintf("floor(extract(epoch from %s)/%d)*%d", g[2], secs, secs)
		if g[1] == "Alias" {
			out += ` AS "time"`
		}
		return out
	})
	if err != nil {
		return "", err
	}
	if strings.Contains(sql, "$__") || strings.Contains(sql, "${") {
		return "", fmt.Errorf("unexpanded macro or variable in:\n%s", sql)
	}
	return sql, nil
}

func intervalSeconds(s string) (int, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		return n * 86400, err
	}
	d, err := time.ParseDuration(s)
	return int(d.Seconds()), err
}

// Every panel's SQL, its Grafana macros expanded, runs on the seed and returns rows.
func TestDashboardPanelQueriesRunOnTheSeed(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	panels := allPanels(d.Panels)
	titles := map[string]bool{}
	for _, p := range panels {
		titles[strings.ToLower(p.Title)] = true
	}
	for _, want := range []string{"failure rate by domain", "latency percentiles", "top failing addresses", "archive lag per domain"} {
		if !titles[want] {
			t.Errorf("dashboard has no panel %q", want)
		}
	}
	uid := provisionedUID(t)

	s := newSeeded(t)
	ctx := context.Background()
	from, to := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 13, 0, 0, 0, 0, time.UTC)
	n := 0
	for _, p := range panels {
		if len(p.Targets) == 0 {
			continue
		}
		if p.Datasource.UID != uid {
			t.Errorf("panel %q uses data source %q, want the provisioned %q", p.Title, p.Datasource.UID, uid)
		}
		for _, tg := range p.Targets {
			n++
			for _, interval := range []string{"5m", "1h", "1d"} {
				sql, err := expandMacros(tg.RawSQL, from, to, interval)
				if err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				rows, err := queryRows(ctx, t, s, sql)
				if err != nil {
					t.Errorf("panel %q (interval %s): %v\n%s", p.Title, interval, err, sql)
					continue
				}
				if len(rows) == 0 {
					t.Errorf("panel %q (interval %s): no rows on the seed\n%s", p.Title, interval, sql)
				}
				if tg.Format == "time_series" && len(rows) > 0 {
					if _, err := strconv.ParseFloat(rows[0][0], 64); err != nil {
						t.Errorf("panel %q: time series whose first column is %q, not a time", p.Title, rows[0][0])
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard has no queries")
	}
}

// The provisioned data source is the compose postgres service and its database.
func provisionedUID(t *testing.T) string {
	t.Helper()
	var ds struct {
		Datasources []struct {
			UID, Type, URL, User string
			JSONData             struct {
				Database string `yaml:"database"`
			} `yaml:"jsonData"`
			SecureJSONData struct {
				Password string `yaml:"password"`
			} `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	data, err := os.ReadFile(datasourcePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yamlv3.Unmarshal(data, &ds); err != nil {
		t.Fatalf("%s: %v", datasourcePath, err)
	}
	if len(ds.Datasources) != 1 {
		t.Fatalf("%s: %d data sources, want 1", datasourcePath, len(ds.Datasources))
	}
	src := ds.Datasources[0]
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Profiles    []string          `yaml:"profiles"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	data, err = os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yamlv3.Unmarshal(data, &compose); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	pg := compose.Services["postgres"].Environment
	if src.Type != "grafana-postgresql-datasource" || src.URL != "postgres:5432" ||
		src.JSONData.Database != pg["POSTGRES_DB"] || src.User != pg["POSTGRES_USER"] ||
		src.SecureJSONData.Password != pg["POSTGRES_PASSWORD"] {
		t.Errorf("data source %+v does not point at the compose postgres service (%v)", src, pg)
	}
	g, ok := compose.Services["grafana"]
	if !ok || !strings.HasPrefix(g.Image, "grafana/grafana:11.") || len(g.Profiles) != 1 || g.Profiles[0] != "dashboards" {
		t.Errorf("compose grafana service = %+v, want grafana/grafana:11.x under the dashboards profile", g)
	}
	mounts := strings.Join(g.Volumes, " ")
	for _, m := range []string{"./deploy/grafana/provisioning/datasources", "./deploy/grafana/provisioning/dashboards", "./deploy/grafana/dashboards"} {
		if !strings.Contains(mounts, m+":") {
			t.Errorf("compose grafana service does not mount %s", m)
		}
	}
	return src.UID
}

func TestExpandMacros(t *testing.T) {
	t.Parallel()
	from, to := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 11, 0, 0, 0, 0, time.UTC)
	got, err := expandMacros(`SELECT $__timeGroupAlias(hour, $__interval), $__timeGroup(t, '5m') WHERE $__timeFilter(hour) AND x < $__timeTo()`, from, to, "1h")
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT floor(extract(epoch from hour)/3600)*3600 AS "time", floor(extract(epoch from t)/300)*300 WHERE hour BETWEEN '2025-06-10T00:00:00Z' AND '2025-06-11T00:00:00Z' AND x < '2025-06-11T00:00:00Z'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
