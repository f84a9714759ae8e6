#!/usr/bin/env bash
# Regenerates the Go code of proto/secretbroker/v1 from secretbroker.proto.
# Needs protoc (Debian: apt-get install protobuf-compiler, 3.21.12 was used);
# installs the pinned Go plugins into a private directory.
set -euo pipefail
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.8
GOBIN=$bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
PATH=$bin:$PATH protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  secretbroker/v1/secretbroker.proto
