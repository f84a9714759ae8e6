#!/usr/bin/env bash
# Regenerates secretbroker/_proto/ (the Python protobuf and gRPC stubs) from
# proto/secretbroker/v1/secretbroker.proto. The generated files are committed.
#
# Default: Debian's protoc 3.21.12 and grpc_python_plugin 1.51.1
#   apt-get install -y protobuf-compiler protobuf-compiler-grpc
# the versions that match Debian's python3-protobuf and python3-grpcio.
# GEN_WITH=grpc_tools uses `python3 -m grpc_tools.protoc` instead (pip's
# grpcio-tools, which bundles protoc 3.21 or newer). Debian bookworm's
# python3-grpc-tools 1.14 bundles protoc 3.5.1, whose pre-3.20 output
# protobuf >= 4 (upb) refuses, so gen.sh refuses it too.
#
# The import in the generated *_pb2_grpc.py is rewritten to a relative one,
# so the package is importable without sys.path changes; the descriptor keeps
# its canonical name secretbroker/v1/secretbroker.proto.
set -euo pipefail
check=false
case "${1:-}" in
--check) check=true ;;
"") ;;
*) echo "usage: gen.sh [--check]  (--check: fail when the committed stubs differ from the .proto)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/secretbroker/_proto
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case "${GEN_WITH:-debian}" in
debian)
  for tool in protoc grpc_python_plugin; do
    command -v "$tool" >/dev/null || {
      echo "gen.sh: $tool not found: apt-get install -y protobuf-compiler protobuf-compiler-grpc (or GEN_WITH=grpc_tools with pip's grpcio-tools)" >&2
      exit 1
    }
  done
  # The well-known types (google/protobuf/timestamp.proto) come with
  # libprotobuf-dev, a dependency of protobuf-compiler-grpc.
  wkt=/usr/include
  [ -f "$wkt/google/protobuf/timestamp.proto" ] || { echo "gen.sh: $wkt/google/protobuf/timestamp.proto missing: apt-get install -y libprotobuf-dev" >&2; exit 1; }
  protoc -I "$repo/proto" -I "$wkt" \
    --python_out="$tmp" --pyi_out="$tmp" \
    --grpc_python_out="$tmp" --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
    secretbroker/v1/secretbroker.proto
  ;;
grpc_tools)
  version=$("$py" -m grpc_tools.protoc --version | awk '{print $2}')
  case "$version" in
  3.[0-9].* | 3.1[0-9].*) echo "gen.sh: grpc_tools bundles protoc $version; 3.20 or newer is needed (pip install 'grpcio-tools>=1.48')" >&2; exit 1 ;;
  esac
  wkt=$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
  "$py" -m grpc_tools.protoc -I "$repo/proto" -I "$wkt" \
    --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" \
    secretbroker/v1/secretbroker.proto
  ;;
*) echo "gen.sh: GEN_WITH must be debian or grpc_tools" >&2; exit 2 ;;
esac

gen=$tmp/secretbroker/v1
sed -i 's/^from secretbroker\.v1 import secretbroker_pb2 as /from . import secretbroker_pb2 as /' "$gen/secretbroker_pb2_grpc.py"
if grep -n '^from secretbroker\.\|^import secretbroker' "$gen"/*.py; then
  echo "gen.sh: an absolute import of the generated package is left (above); fix the rewrite" >&2
  exit 1
fi
files="secretbroker_pb2.py secretbroker_pb2.pyi secretbroker_pb2_grpc.py"
if $check; then
  stale=0
  for f in $files; do
    if ! diff -u "$out/$f" "$gen/$f" >"$tmp/diff" 2>&1; then
      stale=1
      echo "gen.sh: secretbroker/_proto/$f differs from what $repo/proto/secretbroker/v1/secretbroker.proto generates:" >&2
      head -40 "$tmp/diff" >&2
    fi
  done
  [ "$stale" = 0 ] || { echo "gen.sh: run clients/python/gen.sh and commit the result" >&2; exit 1; }
  echo "gen.sh: stubs are up to date"
  exit 0
fi
for f in $files; do cp "$gen/$f" "$out/$f"; done
echo "gen.sh: regenerated $out"
