# cbarchive — the two commands of the quick start are `make demo` and `make test`.
GO           ?= go
VERSION      ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -s -w -X main.version=$(VERSION)
# FUZZTIME: a count of inputs, not a duration: with a duration, Go 1.26's fuzzing coordinator can
# report "context deadline exceeded" at the deadline when a busy machine starves its workers
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race. About 3-10 s each
# on an idle 2-core machine.
FUZZTIME     ?= 50000x
# PARALLEL: tests of one package run at once. End-to-end tests mostly wait (on PostgreSQL, on
# livesim's rate limit), so more than go test's default of one per core; each test has its own
# database and livesim.
PARALLEL     ?= 4
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export DATABASE_URL

.PHONY: build demo test test-unit fuzz lint bench clean

build: bin/cbarchive bin/livesim

bin/cbarchive bin/livesim: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/$(notdir $@)

FORCE:

# demo: livesim with 3 domains and 7 days of call-backs, synced into a fresh local database.
demo: build
	./scripts/demo.sh

# test: every test (with the race detector), then each fuzzer for $(FUZZTIME), then gofmt, vet and staticcheck.
# deploy/ is a module of its own (its tests need the Kubernetes API types; the binaries do not).
test: test-unit fuzz lint

test-unit:
	./scripts/ensure-postgres.sh
	$(GO) test -race -count=1 -parallel $(PARALLEL) -timeout 30m ./...
	cd deploy && $(GO) test -race -count=1 -parallel $(PARALLEL) -timeout 10m ./...

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseHeaders$$' -fuzztime=$(FUZZTIME) ./transform/
	$(GO) test -run='^$$' -fuzz='^FuzzNormalize$$' -fuzztime=$(FUZZTIME) ./transform/
	$(GO) test -run='^$$' -fuzz='^FuzzParseFlatMatchesEncodingJSON$$' -fuzztime=$(FUZZTIME) ./callback/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd deploy && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchtime=3x ./load/

clean:
	rm -rf bin .demo
