package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Paths, relative to this package's directory (go test runs with it as the working directory).
var (
	repoRoot       = ".."
	k8sDir         = "k8s"
	dockerfilePath = filepath.Join(repoRoot, "Dockerfile")
	composePath    = filepath.Join(repoRoot, "docker-compose.yml")
	dockerignore   = filepath.Join(repoRoot, ".dockerignore")
)

// referencePath is the repository's reference, whose settings table the deployment files are
// held to.
var referencePath = filepath.Join(repoRoot, "docs", "reference.md")

// contractSettings are the CBARCHIVE_* settings of docs/reference.md's settings table, with their
// defaults; "" where the default is empty (meaning "all", "discover" or "none").
var contractSettings = referenceSettings()

// referenceSettings reads the settings table of docs/reference.md. It panics when the table
// cannot be found: every test of this package depends on it.
func referenceSettings() map[string]string {
	text, err := os.ReadFile(referencePath)
	if err != nil {
		panic(fmt.Sprintf("read the settings of %s: %v", referencePath, err))
	}
	_, section, ok := strings.Cut(string(text), "\n## Settings\n")
	if !ok {
		panic(referencePath + " has no \"## Settings\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.Contains(cells[1], "`CBARCHIVE_") {
			continue
		}
		def := ""
		if d := strings.TrimSpace(cells[3]); strings.HasPrefix(d, "`") {
			def = strings.Trim(strings.Fields(d)[0], "`")
		}
		for _, name := range settingName.FindAllString(cells[1], -1) {
			out[name] = def
		}
	}
	if len(out) < 15 {
		panic(fmt.Sprintf("%s's settings table lists only %d CBARCHIVE_* settings: is its format still | `NAME` | flag | `default` | … |?", referencePath, len(out)))
	}
	return out
}

// contractSecrets are the contract's settings that are credentials: they belong in a Secret,
// never in a ConfigMap or an image.
var contractSecrets = []string{"DATABASE_URL", "VOLC_ACCESSKEY", "VOLC_SECRETKEY"}

// Names shared by the manifests.
const (
	namespace     = "cbarchive"
	imageName     = "ghcr.io/cbarchive/cbarchive"
	containerName = "cbarchive"
	configMapName = "cbarchive-config"
	secretName    = "cbarchive-credentials"
	cronJobName   = "cbarchive-sync"
	migrateJob    = "cbarchive-migrate"
	nonrootUID    = 65532
)
