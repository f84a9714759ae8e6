#!/usr/bin/env bash
# Runs the Python client's tests against a real secretbrokerd process.
#
# Builds the daemon once from the repository root (go build ./cmd/secretbrokerd)
# into a temporary directory; the tests start it with their own configuration
# on 127.0.0.1:0 and on a unix socket, and stop it.
#
# Environment:
#   PYTHON                            interpreter (default /usr/bin/python3: Debian's
#                                     python3-grpcio and python3-protobuf install for it)
#   SECRETBROKER_TEST_DAEMON=FILE     use this secretbrokerd instead of building one
#   SECRETBROKER_TEST_REPO=DIR        build the daemon from this source tree instead of
#                                     the repository root (e.g. a worktree of an older commit)
#   SECRETBROKER_TEST_LEGACY_CONFIG=1 the daemon predates auth, policy and audit: write a
#                                     configuration without them and skip the tests that need them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${PYTHON:-/usr/bin/python3}
pkgs="python3-grpcio python3-protobuf"

[ -x "$py" ] || { echo "test.sh: $py not found (apt-get install -y python3 $pkgs)" >&2; exit 1; }
if ! "$py" -c 'import grpc, google.protobuf' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: $py cannot import grpc and google.protobuf; installing $pkgs" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
    "$py" -c 'import grpc, google.protobuf' || { echo "test.sh: still cannot import grpc and google.protobuf after installing $pkgs" >&2; exit 1; }
  else
    echo "test.sh: $py cannot import grpc and google.protobuf: install them with: apt-get install -y $pkgs (as root)" >&2
    exit 1
  fi
fi

# The committed stubs must match the .proto (when the generators are here).
if command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null; then
  "$here/gen.sh" --check
else
  echo "test.sh: not checking the stubs against the .proto (apt-get install -y protobuf-compiler protobuf-compiler-grpc to check)" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
daemon=${SECRETBROKER_TEST_DAEMON:-}
if [ -z "$daemon" ]; then
  src=${SECRETBROKER_TEST_REPO:-$repo}
  command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH
  command -v go >/dev/null || { echo "test.sh: go not found (install Go, or set SECRETBROKER_TEST_DAEMON to a secretbrokerd binary)" >&2; exit 1; }
  echo "test.sh: building secretbrokerd from $src" >&2
  if ! (cd "$src" && go build -o "$tmp/secretbrokerd" ./cmd/secretbrokerd); then
    echo "test.sh: building the daemon from $src failed (above); set SECRETBROKER_TEST_REPO to a tree that builds, or SECRETBROKER_TEST_DAEMON to a binary" >&2
    exit 1
  fi
  daemon=$tmp/secretbrokerd
fi

cd "$here"
SECRETBROKER_TEST_DAEMON=$daemon PYTHONDONTWRITEBYTECODE=1 "$py" -m tests.run -v
