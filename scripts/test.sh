#!/usr/bin/env bash
# Runs every test of secretbroker (the README's test command). On a fresh
# machine it installs what the tests need (Go modules from the proxy;
# Debian's python3-grpcio and python3-protobuf for the Python client; helm
# and the Kubernetes schemas for the chart), as root, or says exactly what
# to install.
#
#   1. the main module, with the race detector;
#   2. the integration module test/integration (a real Vault server in the
#      test process; secretbrokerd as a process against all four vault
#      kinds; cache, breaker and failover with Vault stopped and restarted),
#      with the race detector;
#   3. short, bounded runs of the fuzz targets (naming, request validation,
#      the configuration loader, the policy);
#   4. every Go micro-benchmark once (-benchtime=1x: they cannot rot; no
#      timing is asserted) and `secretbroker-bench -quick`;
#   5. the Python client against a real daemon (clients/python/test.sh);
#   6. the deployment artefacts: Helm chart lint, render and validation,
#      cross-compiles for windows/amd64 and linux/arm64 (scripts/ci-deploy.sh).
#
# SECRETBROKER_TEST_SKIP="bench python deploy integration" skips parts (for
# a quick local run); CI skips nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
skip=" ${SECRETBROKER_TEST_SKIP:-} "
skipped() { [[ "$skip" == *" $1 "* ]]; }

echo "--- go test -race ./... (main module)"
go test -race -count=1 ./...

if ! skipped integration && [ -d test/integration ]; then
  echo "--- go test -race ./... (test/integration: real Vault, the daemon against all four vaults)"
  (cd test/integration && go test -race -count=1 -timeout 25m ./...)
fi

echo "--- fuzz targets, briefly"
go test -run '^$' -fuzz '^FuzzEncode$' -fuzztime 15s ./naming
go test -run '^$' -fuzz '^FuzzRequestValidate$' -fuzztime 5s ./broker
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 5s ./internal/config
go test -run '^$' -fuzz '^FuzzMatch$' -fuzztime 5s ./policy
go test -run '^$' -fuzz '^FuzzNew$' -fuzztime 5s ./policy

if ! skipped bench; then
  echo "--- micro-benchmarks once (-benchtime=1x) and secretbroker-bench -quick"
  go test -run '^$' -bench . -benchtime 1x ./...
  go run ./cmd/secretbroker-bench -quick -json "$(mktemp -d)/bench.json"
fi

if ! skipped python; then
  echo "--- Python client (clients/python/test.sh)"
  clients/python/test.sh
fi

if ! skipped deploy; then
  echo "--- deployment artefacts (scripts/ci-deploy.sh)"
  scripts/ci-deploy.sh
fi
echo "--- all tests passed"
