package deploy

import "path/filepath"

// Paths, relative to this package's directory (go test runs with it as the working directory).
var (
	repoRoot       = ".."
	k8sDir         = "k8s"
	dockerfilePath = filepath.Join(repoRoot, "Dockerfile")
	composePath    = filepath.Join(repoRoot, "docker-compose.yml")
	dockerignore   = filepath.Join(repoRoot, ".dockerignore")
)

// contractSettings are the CBARCHIVE_* settings of CONTRACT.md's configuration table, with their
// defaults; "" where the contract's default is empty (meaning "all" or "discover").
var contractSettings = map[string]string{
	"CBARCHIVE_ENDPOINT":         "https://live.volcengineapi.com",
	"CBARCHIVE_REGION":           "cn-north-1",
	"CBARCHIVE_DOMAINS":          "",
	"CBARCHIVE_EVENT_TYPES":      "",
	"CBARCHIVE_STATUSES":         "",
	"CBARCHIVE_APP":              "",
	"CBARCHIVE_STREAM":           "",
	"CBARCHIVE_RATE_LIMIT":       "30",
	"CBARCHIVE_PAGE_SIZE":        "1000",
	"CBARCHIVE_INITIAL_LOOKBACK": "24h",
	"CBARCHIVE_OVERLAP":          "10m",
	"CBARCHIVE_SETTLE":           "2m",
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
