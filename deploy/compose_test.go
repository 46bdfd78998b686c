package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
)

// composeFile is the part of the Compose specification the demo relies on.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string       `yaml:"image"`
	Build       any          `yaml:"build"`
	Entrypoint  stringOrList `yaml:"entrypoint"`
	Command     stringOrList `yaml:"command"`
	Environment environment  `yaml:"environment"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Healthcheck *struct {
		Test stringOrList `yaml:"test"`
	} `yaml:"healthcheck"`
	Profiles []string `yaml:"profiles"`
}

// stringOrList is a Compose command or entrypoint: a list, or a string split on white space.
type stringOrList []string

func (s *stringOrList) UnmarshalYAML(n *yamlv3.Node) error {
	switch n.Kind {
	case yamlv3.ScalarNode:
		*s = strings.Fields(n.Value)
		return nil
	case yamlv3.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list", n.Line)
}

// environment is a Compose environment: a map, or a list of NAME=value. A name without a value
// (taken from the host) maps to nil.
type environment map[string]*string

func (e *environment) UnmarshalYAML(n *yamlv3.Node) error {
	out := environment{}
	switch n.Kind {
	case yamlv3.MappingNode:
		var m map[string]*string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = v
		}
	case yamlv3.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				out[k] = &v
			} else {
				out[k] = nil
			}
		}
	default:
		return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
	}
	*e = out
	return nil
}

// dependsOn is a Compose depends_on: a list of names (condition service_started), or a map of
// name to {condition}.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yamlv3.Node) error {
	out := dependsOn{}
	switch n.Kind {
	case yamlv3.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			out[s] = "service_started"
		}
	case yamlv3.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			c := v.Condition
			if c == "" {
				c = "service_started"
			}
			out[k] = c
		}
	default:
		return fmt.Errorf("line %d: depends_on must be a list or a map", n.Line)
	}
	*d = out
	return nil
}

func loadCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatalf("reading %s: %v", composePath, err)
	}
	var c composeFile
	if err := yamlv3.Unmarshal(data, &c); err != nil {
		t.Fatalf("parsing %s: %v", composePath, err)
	}
	return c, string(data)
}

func service(t *testing.T, c composeFile, name string) composeService {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

func env(s composeService, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	c, _ := loadCompose(t)
	for _, name := range []string{"postgres", "livesim", "migrate", "sync"} {
		s := service(t, c, name)
		// Profiled services start only when asked; the demo's must start on a plain "up".
		if len(s.Profiles) != 0 {
			t.Errorf("service %s has profiles %v: docker compose up would not start it", name, s.Profiles)
		}
	}

	pg := service(t, c, "postgres")
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image = %q, want postgres:16", pg.Image)
	}
	if pg.Healthcheck == nil || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres has no pg_isready healthcheck")
	}
	if env(pg, "POSTGRES_PASSWORD") == "" && env(pg, "POSTGRES_HOST_AUTH_METHOD") != "trust" {
		t.Errorf("postgres sets neither POSTGRES_PASSWORD nor POSTGRES_HOST_AUTH_METHOD=trust: it would not start")
	}

	// The cbarchive services run the image built from the repository's Dockerfile.
	built := map[string]bool{}
	for _, s := range c.Services {
		if s.Build != nil && s.Image != "" {
			built[s.Image] = true
		}
	}
	for _, name := range []string{"livesim", "migrate", "sync"} {
		s := service(t, c, name)
		if s.Build == nil && !built[s.Image] {
			t.Errorf("service %s neither builds the Dockerfile nor uses an image another service builds", name)
		}
		if s.Build != nil {
			checkBuild(t, name, s.Build)
		}
	}
}

// checkBuild checks that a build section builds the repository's Dockerfile.
func checkBuild(t *testing.T, name string, build any) {
	t.Helper()
	context, dockerfile := "", "Dockerfile"
	switch b := build.(type) {
	case string:
		context = b
	case map[string]any:
		context, _ = b["context"].(string)
		if d, ok := b["dockerfile"].(string); ok {
			dockerfile = d
		}
	default:
		t.Errorf("service %s: build is %T", name, build)
		return
	}
	if context != "." && context != "./" {
		t.Errorf("service %s: build context = %q, want the repository root", name, context)
	}
	if dockerfile != "Dockerfile" {
		t.Errorf("service %s: builds %q, want the repository's Dockerfile", name, dockerfile)
	}
}

func TestComposeLivesim(t *testing.T) {
	c, _ := loadCompose(t)
	ls := service(t, c, "livesim")
	if len(ls.Entrypoint) == 0 || !strings.HasSuffix(ls.Entrypoint[0], "livesim") {
		t.Errorf("livesim entrypoint = %q, want the livesim binary", ls.Entrypoint)
	}
	listen := flagValue(ls.Command, "--listen")
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("livesim --listen %q: %v", listen, err)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("livesim listens on %q: other containers cannot reach it", listen)
	}
	for _, f := range []string{"--seed", "--num-domains", "--days-back"} {
		if flagValue(ls.Command, f) == "" {
			t.Errorf("livesim command %q lacks %s", ls.Command, f)
		}
	}
}

func TestComposeSync(t *testing.T) {
	c, _ := loadCompose(t)
	sync := service(t, c, "sync")
	if len(sync.Entrypoint) != 0 {
		t.Errorf("sync overrides the entrypoint (%q): the image's is cbarchive", sync.Entrypoint)
	}
	if !slices.Equal(sync.Command, []string{"sync"}) {
		t.Errorf("sync command = %q, want [sync]", sync.Command)
	}
	for _, name := range []string{"DATABASE_URL", "VOLC_ACCESSKEY", "VOLC_SECRETKEY", "CBARCHIVE_ENDPOINT"} {
		if env(sync, name) == "" {
			t.Errorf("sync environment lacks %s", name)
		}
	}

	// The endpoint is the livesim service, on the port it listens on.
	ls := service(t, c, "livesim")
	_, port, _ := net.SplitHostPort(flagValue(ls.Command, "--listen"))
	u, err := url.Parse(env(sync, "CBARCHIVE_ENDPOINT"))
	if err != nil {
		t.Fatalf("sync CBARCHIVE_ENDPOINT: %v", err)
	}
	if u.Scheme != "http" || u.Hostname() != "livesim" || u.Port() != port || (u.Path != "" && u.Path != "/") {
		t.Errorf("sync CBARCHIVE_ENDPOINT = %q, want http://livesim:%s", u, port)
	}

	// livesim accepts exactly the key sync signs with.
	for _, name := range []string{"VOLC_ACCESSKEY", "VOLC_SECRETKEY"} {
		if env(ls, name) != env(sync, name) {
			t.Errorf("livesim %s = %q, sync's = %q: signatures would not verify", name, env(ls, name), env(sync, name))
		}
	}

	// DATABASE_URL points at the postgres service, with its password.
	db, err := url.Parse(env(sync, "DATABASE_URL"))
	if err != nil {
		t.Fatalf("sync DATABASE_URL: %v", err)
	}
	if db.Hostname() != "postgres" {
		t.Errorf("sync DATABASE_URL host = %q, want the postgres service", db.Hostname())
	}
	pg := service(t, c, "postgres")
	if pw, _ := db.User.Password(); env(pg, "POSTGRES_PASSWORD") != "" && pw != env(pg, "POSTGRES_PASSWORD") {
		t.Errorf("sync DATABASE_URL password does not match postgres' POSTGRES_PASSWORD")
	}

	if got := sync.DependsOn["migrate"]; got != "service_completed_successfully" {
		t.Errorf("sync depends_on migrate condition = %q, want service_completed_successfully", got)
	}
	if got := sync.DependsOn["livesim"]; got != "service_started" && got != "service_healthy" {
		t.Errorf("sync depends_on livesim condition = %q, want service_started", got)
	}
}

func TestComposeMigrate(t *testing.T) {
	c, _ := loadCompose(t)
	m := service(t, c, "migrate")
	if len(m.Entrypoint) != 0 {
		t.Errorf("migrate overrides the entrypoint (%q): the image's is cbarchive", m.Entrypoint)
	}
	if !slices.Equal(m.Command, []string{"migrate", "up"}) {
		t.Errorf("migrate command = %q, want [migrate up]", m.Command)
	}
	if got, want := env(m, "DATABASE_URL"), env(service(t, c, "sync"), "DATABASE_URL"); got != want {
		t.Errorf("migrate DATABASE_URL = %q, sync's = %q: they must be the same database", got, want)
	}
	if got := m.DependsOn["postgres"]; got != "service_healthy" {
		t.Errorf("migrate depends_on postgres condition = %q, want service_healthy", got)
	}
}

var settingName = regexp.MustCompile(`CBARCHIVE_[A-Z0-9_]+`)

func TestComposeUsesContractSettings(t *testing.T) {
	c, text := loadCompose(t)
	for _, name := range settingName.FindAllString(text, -1) {
		if _, ok := contractSettings[name]; !ok {
			t.Errorf("docker-compose.yml mentions %s, which is not a setting of docs/reference.md", name)
		}
	}
	for sname, s := range c.Services {
		for name := range s.Environment {
			if strings.HasPrefix(name, "CBARCHIVE_") {
				if _, ok := contractSettings[name]; !ok {
					t.Errorf("service %s sets %s, which is not a setting of docs/reference.md", sname, name)
				}
			}
		}
	}
}

// flagValue returns the value of --name in args ("--name v" or "--name=v"), or "".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestComposeParsersAcceptBothForms(t *testing.T) {
	var s composeService
	doc := "command: migrate up\nenvironment: [A=1, B]\ndepends_on: [postgres]\n"
	if err := yamlv3.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Command, []string{"migrate", "up"}) || env(s, "A") != "1" || s.Environment["B"] != nil ||
		s.DependsOn["postgres"] != "service_started" {
		t.Errorf("short forms decoded as %+v", s)
	}
}
