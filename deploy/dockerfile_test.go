package deploy

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from  string // image reference
	name  string // AS name, if any
	instr []instruction
}

func parseDockerfile(t *testing.T, text string) []stage {
	t.Helper()
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var st stage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				case st.from == "":
					st.from = f[i]
				}
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Errorf("Dockerfile line %d: %s before the first FROM", in.line, in.cmd)
			}
			return
		}
		last := &stages[len(stages)-1]
		last.instr = append(last.instr, in)
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() != 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(body)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func loadDockerfile(t *testing.T) []stage {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatalf("reading %s: %v", dockerfilePath, err)
	}
	stages := parseDockerfile(t, string(data))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a multi-stage build", len(stages))
	}
	return stages
}

// execForm decodes a JSON-array (exec form) ENTRYPOINT or CMD.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal([]byte(in.args), &l); err != nil {
		t.Errorf("Dockerfile line %d: %s %s is not in exec form (a JSON array): %v", in.line, in.cmd, in.args, err)
	}
	return l
}

func TestDockerfileFinalStage(t *testing.T) {
	stages := loadDockerfile(t)
	final := stages[len(stages)-1]

	distrolessNonroot := strings.Contains(final.from, "distroless") && strings.HasSuffix(final.from, ":nonroot")
	user := ""
	var entrypoint, cmd []string
	var copied []string
	for _, in := range final.instr {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		case "COPY":
			if strings.Contains(in.args, "--from=") {
				copied = append(copied, strings.Fields(in.args)...)
			}
		case "RUN":
			if strings.Contains(final.from, "distroless") {
				t.Errorf("Dockerfile line %d: RUN in a distroless stage (there is no shell)", in.line)
			}
		}
	}
	switch uid, _, _ := strings.Cut(user, ":"); {
	case user == "" && !distrolessNonroot:
		t.Errorf("final stage %q runs as root: use a distroless :nonroot base or a non-root USER", final.from)
	case user != "" && (uid == "0" || uid == "root"):
		t.Errorf("final stage USER %q is root", user)
	case user != "" && strings.Trim(uid, "0123456789") != "":
		// Kubernetes' runAsNonRoot can only verify a numeric user.
		t.Errorf("final stage USER %q is not numeric", user)
	}
	if !slices.Equal(entrypoint, []string{"/usr/local/bin/cbarchive"}) {
		t.Errorf("ENTRYPOINT = %q, want [/usr/local/bin/cbarchive]", entrypoint)
	}
	if !slices.Equal(cmd, []string{"sync"}) {
		t.Errorf("CMD = %q, want [sync]", cmd)
	}
	if len(copied) == 0 || copied[len(copied)-1] != "/usr/local/bin/" {
		t.Errorf("final stage does not COPY the binaries into /usr/local/bin/: %q", copied)
	}
	for _, bin := range []string{"cbarchive", "livesim"} {
		if !slices.ContainsFunc(copied, func(s string) bool { return strings.HasSuffix(s, "/"+bin) }) {
			t.Errorf("final stage does not copy %s", bin)
		}
	}
}

func TestDockerfileBuildStage(t *testing.T) {
	stages := loadDockerfile(t)
	build := stages[0]
	if !strings.HasPrefix(build.from, "golang:") {
		t.Errorf("first stage builds from %q, want a golang image", build.from)
	}
	cgoOffInStage := false
	built := map[string]bool{}
	modDownload, copyAll := -1, -1
	for i, in := range build.instr {
		switch in.cmd {
		case "ENV":
			if strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOffInStage = true
			}
		case "COPY":
			if f := strings.Fields(in.args); len(f) >= 2 && f[0] == "." && copyAll < 0 {
				copyAll = i
			}
		case "RUN":
			if strings.Contains(in.args, "go mod download") && modDownload < 0 {
				modDownload = i
			}
			// Each go build, and the settings in front of it, up to the next && or ;.
			for _, part := range strings.FieldsFunc(in.args, func(r rune) bool { return r == '&' || r == ';' }) {
				if !strings.Contains(part, "go build") {
					continue
				}
				for _, pkg := range []string{"./cmd/cbarchive", "./cmd/livesim"} {
					if !strings.Contains(part, pkg) {
						continue
					}
					built[pkg] = true
					if !cgoOffInStage && !strings.Contains(part, "CGO_ENABLED=0") {
						t.Errorf("Dockerfile line %d: %s is built without CGO_ENABLED=0 (distroless/static has no libc)", in.line, pkg)
					}
					for _, want := range []string{"-trimpath", "-X main.version="} {
						if !strings.Contains(part, want) {
							t.Errorf("Dockerfile line %d: go build of %s lacks %s", in.line, pkg, want)
						}
					}
				}
			}
		}
	}
	for _, pkg := range []string{"./cmd/cbarchive", "./cmd/livesim"} {
		if !built[pkg] {
			t.Errorf("the build stage does not go build %s", pkg)
		}
	}
	if modDownload < 0 || copyAll < 0 || modDownload > copyAll {
		t.Errorf("go mod download must run before COPY . . so the module layer is cached")
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(dockerignore)
	if err != nil {
		t.Fatalf("reading %s: %v", dockerignore, err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimPrefix(line, "/"))
		}
	}
	for _, want := range []string{".git", "bin", ".demo"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	// The build needs these; excluding them would break it.
	for _, need := range []string{"go.mod", "go.sum", "cmd", "*", "*.go", "**/*.go"} {
		if slices.Contains(patterns, need) {
			t.Errorf(".dockerignore excludes %s, which the build needs", need)
		}
	}
}
