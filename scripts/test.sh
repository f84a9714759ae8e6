#!/usr/bin/env bash
# Runs every test of secretbroker:
#   1. the main module, with the race detector;
#   2. the integration module test/integration (a real Vault server in the
#      test process, and secretbrokerd started as a process against all four
#      vault kinds), with the race detector;
#   3. a short, bounded run of the naming fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 ./...
if [ -d test/integration ]; then
  (cd test/integration && go test -race -count=1 -timeout 20m ./...)
fi
go test -run '^$' -fuzz '^FuzzEncode$' -fuzztime 15s ./naming
