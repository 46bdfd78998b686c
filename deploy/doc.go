// Package deploy holds cbarchive's deployment files and the tests that keep them honest.
//
// The files themselves live around it: the Dockerfile, .dockerignore and docker-compose.yml at
// the repository root, and plain Kubernetes manifests with a kustomization in deploy/k8s (see
// deploy/README.md). Docker and a cluster are not needed to check them: the tests decode every
// manifest strictly into the k8s.io/api types, parse the Compose file, and read the Dockerfile,
// and hold them to docs/reference.md (command names, setting names, exit codes).
//
// The package has no code of its own; only its tests matter. It is a Go module of its own
// (deploy/go.mod), so that the Kubernetes and YAML libraries its tests need stay out of the
// product's go.mod; `make test` runs it (cd deploy && go test ./...).
package deploy
