# cbarchive image: the cbarchive and livesim binaries on distroless, non-root, no shell.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t cbarchive:dev .
#   docker run --rm cbarchive:dev version
#
# ENTRYPOINT is cbarchive and CMD is "sync", so the image run bare does what the CronJob does;
# give another command as arguments (migrate up, status --json, backfill ...), or
# --entrypoint /usr/local/bin/livesim for the API stand-in.

ARG GO_VERSION=1.26

# ---- build ------------------------------------------------------------------------------------
# Build on the builder's platform and cross-compile: CGO is off, so every target is pure Go.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Modules first: this layer is reused as long as go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS="${TARGETOS}" GOARCH="${TARGETARCH}" \
      go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/cbarchive ./cmd/cbarchive && \
    CGO_ENABLED=0 GOOS="${TARGETOS}" GOARCH="${TARGETARCH}" \
      go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/livesim ./cmd/livesim

# ---- run --------------------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
LABEL org.opencontainers.image.title="cbarchive" \
      org.opencontainers.image.description="Archives Volcengine Live call-back history into PostgreSQL" \
      org.opencontainers.image.source="https://github.com/cbarchive/cbarchive" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=build /out/cbarchive /out/livesim /usr/local/bin/

# distroless "nonroot": uid/gid 65532. Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532

ENTRYPOINT ["/usr/local/bin/cbarchive"]
CMD ["sync"]
