#!/usr/bin/env bash
# Run a Go command on the Go SDK where no Go module proxy is reachable: in GOPATH mode, against
# Debian's packaged sources (golang-google-grpc-dev, golang-google-protobuf-dev,
# golang-google-genproto-dev under /usr/share/gocode).
#
#   clients/go/build.sh go build ./...
#   clients/go/build.sh go vet ./...
#   clients/go/build.sh go test ./interp/
#   clients/go/build.sh go build -o /tmp/bin/ ./examples/...      # binaries: -o (absolute, or
#   clients/go/build.sh go run ./examples/attention -endpoint HOST:PORT   relative to clients/go)
#   clients/go/build.sh go install ./examples/...                 # into $GOBIN (default clients/go/bin)
#   clients/go/build.sh gofmt -l .
#
# It lays out a temporary GOPATH whose src/github.com/interp-suite/interp-suite/clients/go is a
# link to this directory, puts /usr/share/gocode (or $INTERP_GO_SYSTEM_PATH) second, and runs the
# command inside the module directory with GO111MODULE=off; the temporary GOPATH is removed on
# exit. The build cache is Go's usual one ($GOCACHE, default ~/.cache/go-build).
#
# INTERP_GO_MODULES=1 runs the command in module mode instead (plain `go` with go.mod: needs a
# module proxy and a go.sum, e.g. after `go mod tidy`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMPORT_PATH="github.com/interp-suite/interp-suite/clients/go"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 go <build|test|vet|run|install> [args...]   (or any command, e.g. gofmt -l .)" >&2
  exit 2
fi
if ! command -v go >/dev/null 2>&1; then
  echo "$0: no 'go' on PATH (apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev)" >&2
  exit 127
fi

export GOBIN="${GOBIN:-$HERE/bin}"

if [ "${INTERP_GO_MODULES:-0}" = "1" ]; then
  cd "$HERE"
  GO111MODULE=on exec "$@"
fi

SYSTEM_PATH="${INTERP_GO_SYSTEM_PATH:-/usr/share/gocode}"
if [ ! -d "$SYSTEM_PATH/src/google.golang.org/grpc" ]; then
  echo "$0: $SYSTEM_PATH/src/google.golang.org/grpc is missing (apt-get install golang-google-grpc-dev" \
       "golang-google-protobuf-dev golang-google-genproto-dev, or INTERP_GO_MODULES=1 with a module proxy)" >&2
  exit 127
fi

GOPATH_DIR="$(mktemp -d "${TMPDIR:-/tmp}/interp-go.XXXXXX")"
cleanup() { rm -rf "$GOPATH_DIR"; }
trap cleanup EXIT
LINK="$GOPATH_DIR/src/$IMPORT_PATH"
mkdir -p "$(dirname "$LINK")"
ln -s "$HERE" "$LINK"

cd "$LINK"          # a logical path under GOPATH ($PWD), which is what GOPATH mode resolves
export PWD="$LINK"
export GO111MODULE=off
export GOPATH="$GOPATH_DIR:$SYSTEM_PATH"
export GOFLAGS="${GOFLAGS:-}"
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ]; then
  export GOCACHE="${TMPDIR:-/tmp}/interp-go-cache"
fi
# Not exec: the trap removes the temporary GOPATH once the command is done.
"$@"
