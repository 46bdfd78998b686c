package docs

import (
	"bufio"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the repository's root, relative to this package's directory.
const repoRoot = ".."

var (
	// inlineLink matches [text](target) and ![alt](target); the target stops at a space or ")".
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refLink matches a reference definition: [label]: target
	refLink = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	// outside matches a mention of a path that climbs out of the repository into the team's
	// shared notes, in any file, link or not.
	outside = regexp.MustCompile(`\.\./shared\b|\bshared/(?:CONTRACT|API|STYLE)\.md|\b` + "CONTRACT" + `\.md\b`)
	// fenced matches a code fence line.
	fenced = regexp.MustCompile("^\\s*(```|~~~)")
)

// files returns the repository's files (not .git), relative to the root.
func files(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(repoRoot, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// links returns the link targets of a Markdown text, outside code blocks and code spans.
func links(text string) []string {
	var out []string
	inFence := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if fenced.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
		for _, m := range refLink.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var codeSpan = regexp.MustCompile("`[^`]*`")

// anchors returns the GitHub anchors of a Markdown file's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fenced.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		out[slug(h)] = true
	}
	return out
}

// slug is GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkLink returns what is wrong with a relative link from file (relative to the root), or "".
func checkLink(file, target string) string {
	if u, err := url.Parse(target); err == nil && u.Scheme != "" {
		return "" // http(s), mailto: not a path
	}
	path, anchor, _ := strings.Cut(target, "#")
	if path == "" {
		path = filepath.Base(file)
	}
	path, err := url.PathUnescape(path)
	if err != nil {
		return "is not a valid path"
	}
	resolved := filepath.Clean(filepath.Join(filepath.Dir(file), path))
	if resolved == ".." || strings.HasPrefix(resolved, ".."+string(filepath.Separator)) || filepath.IsAbs(path) {
		return "points outside the repository"
	}
	full := filepath.Join(repoRoot, resolved)
	if _, err := os.Stat(full); err != nil {
		return "does not exist in the repository"
	}
	if anchor != "" && strings.HasSuffix(full, ".md") {
		text, err := os.ReadFile(full)
		if err != nil {
			return err.Error()
		}
		if !anchors(string(text))[anchor] {
			return "names a heading (#" + anchor + ") that " + resolved + " does not have"
		}
	}
	return ""
}

func TestEveryRelativeLinkResolvesInsideTheRepository(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, f := range files(t) {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		text, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range links(string(text)) {
			checked++
			if problem := checkLink(f, target); problem != "" {
				t.Errorf("%s: link %q %s", f, target, problem)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d links checked: the link finder is broken", checked)
	}
}

func TestNoFilePointsOutsideTheRepository(t *testing.T) {
	t.Parallel()
	for _, f := range files(t) {
		if f == filepath.Join("docs", "links_test.go") {
			continue
		}
		text, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsRune(string(text[:min(len(text), 8000)]), 0) {
			continue // binary
		}
		for i, line := range strings.Split(string(text), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d mentions %q, outside the repository: point to docs/reference.md instead", f, i+1, m)
			}
		}
	}
}

func TestTheLinkCheckerCatchesBadLinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file, target string
		bad          bool
	}{
		{"README.md", "docs/reference.md", false},
		{"README.md", "docs/reference.md#settings", false},
		{"README.md", "docs/reference.md#no-such-heading", true},
		{"README.md", "../" + "shared/" + "CONTRACT.md", true},
		{"deploy/README.md", "../docs/reference.md#exit-codes", false},
		{"deploy/README.md", "k8s/cronjob.yaml", false},
		{"deploy/README.md", "k8s/missing.yaml", true},
		{"docs/reference.md", "../../elsewhere.md", true},
		{"docs/reference.md", "https://example.com/x", false},
		{"docs/reference.md", "#settings", false},
		{"docs/reference.md", "#nope", true},
	} {
		if got := checkLink(tt.file, tt.target) != ""; got != tt.bad {
			t.Errorf("%s -> %s: bad %v, want %v (%s)", tt.file, tt.target, got, tt.bad, checkLink(tt.file, tt.target))
		}
	}
	got := links("see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n[d]: w.md\n")
	if strings.Join(got, ",") != "x.md,w.md" {
		t.Errorf("links found %v, want x.md and w.md (not in code)", got)
	}
	if s := slug("Time ranges: `--start` and `--end`"); s != "time-ranges---start-and---end" {
		t.Errorf("slug %q", s)
	}
}
