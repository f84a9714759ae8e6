#!/usr/bin/env bash
# CI checks of the deployment artefacts, offline (Go module proxy and npm
# registry only, on the first run):
#
#   1. the manifest validator (deploy/validate, its own Go module so that
#      k8s.io/api stays out of the main module): vet and its tests;
#   2. the Helm chart deploy/helm/secretbroker, with its default values and
#      with each deploy/helm/secretbroker/ci/*.yaml:
#        helm lint --strict, helm template, then the rendered manifests
#        - decoded strictly into the typed k8s.io/api objects (unknown,
#          misplaced or duplicate fields, wrong types, unknown kinds),
#          metadata and selectors through apimachinery's validation, and
#          cross-checked (selectors, named ports, hardened pods);
#        - checked against the Kubernetes OpenAPI and Prometheus Operator
#          CRD schemas of the kubernetes-models npm packages (required
#          fields, types, formats, patterns);
#        - the rendered secretbroker.yaml through `secretbrokerd
#          -check-config` (built from this tree), as is the image's
#          built-in deploy/docker/secretbroker.yaml;
#      and renders the chart must refuse (embedded store with replicas,
#      chart-owned keys in `config`, plaintext on 0.0.0.0, bad values);
#   3. secretbrokerd and secretbroker cross-compiled for windows/amd64 and
#      linux/arm64, so that those builds cannot rot.
#
# Tools are cached between runs in $SECRETBROKER_CI_CACHE (default
# ~/.cache/secretbroker-ci): helm (go install from the Go module proxy,
# pinned) and the npm packages (npm ci from the committed lock file).
#
# Usage: scripts/ci-deploy.sh   (from anywhere; exits non-zero on failure)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

HELM_VERSION=v3.22.0
KUBE_VERSION=1.34.0
CHART=deploy/helm/secretbroker
CACHE="${SECRETBROKER_CI_CACHE:-$HOME/.cache/secretbroker-ci}"
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

t0=$(date +%s)
step_start=$t0
step() {
  local now
  now=$(date +%s)
  if [ -n "${step_name:-}" ]; then echo "    ($step_name: $((now - step_start)) s)"; fi
  step_name=$1
  step_start=$now
  echo "--- $1"
}

step "tools: helm $HELM_VERSION"
helm="$CACHE/helm-$HELM_VERSION/helm"
if [ ! -x "$helm" ]; then
  echo "building helm $HELM_VERSION with go install (first run only; cached in $CACHE)"
  mkdir -p "$work/gobin"
  GOBIN="$work/gobin" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mkdir -p "$(dirname "$helm")"
  mv "$work/gobin/helm" "$helm.tmp" && mv "$helm.tmp" "$helm"
fi
"$helm" version --short

step "tools: schema packages (npm ci)"
if ! command -v node >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null) || true
fi
command -v node >/dev/null || { echo "node is needed for the schema check and could not be installed"; exit 1; }
lock_sum=$(cat deploy/validate/schema/package.json deploy/validate/schema/package-lock.json | sha256sum | cut -c1-16)
schema_dir="$CACHE/schema-$lock_sum"
if [ ! -d "$schema_dir/node_modules" ]; then
  rm -rf "$schema_dir.tmp" && mkdir -p "$schema_dir.tmp"
  cp deploy/validate/schema/package.json deploy/validate/schema/package-lock.json "$schema_dir.tmp/"
  (cd "$schema_dir.tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  rm -rf "$schema_dir" && mv "$schema_dir.tmp" "$schema_dir"
fi
cp deploy/validate/schema/validate.mjs "$schema_dir/validate.mjs"
schema() { node "$schema_dir/validate.mjs" "$@"; }
echo "node $(node --version), kubernetes-models $(node -p "require('$schema_dir/node_modules/kubernetes-models/package.json').version")"

step "validator: vet, tests, build"
(
  cd deploy/validate
  go vet ./...
  go test ./...
  go build -o "$work/validate" .
)
# The schema step must reject what it exists to catch.
if schema deploy/validate/schema/testdata/broken.json >"$work/broken.out" 2>&1; then
  echo "the schema check accepted deploy/validate/schema/testdata/broken.json"; exit 1
fi
for want in "must have required property name" "interval must match pattern" "must have required property port"; do
  grep -qF "$want" "$work/broken.out" || { echo "schema check output lacks: $want"; cat "$work/broken.out"; exit 1; }
done
echo "schema check rejects testdata/broken.json (3 of 3)"

step "chart: lint, template, validate, check-config"
go build -o "$work/secretbrokerd" ./cmd/secretbrokerd
# check_config runs -check-config on a rendered configuration. The files it
# names exist only inside the pod (Secrets, projected tokens), and
# -check-config reads them (it parses certificates and keys), so they are
# made first under $work/root, with the same names, from a throwaway CA, and
# the configuration's absolute *_file paths are pointed there.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ci placeholder" \
  -keyout "$work/placeholder.key" -out "$work/placeholder.crt" 2>/dev/null
check_config() {
  local cfg=$1 copy="$work/check-config.yaml"
  sed -E "s#(_file: *\"?)(/)#\1$work/root/#" "$cfg" >"$copy"
  { grep -oE "_file: *\"?$work/root/[^\" ,}]+" "$copy" || true; } | sed -E 's#_file: *"?##' | sort -u | while read -r f; do
    mkdir -p "$(dirname "$f")"
    case "$f" in
      *.key) cp "$work/placeholder.key" "$f" ;;
      *.crt|*.pem) cp "$work/placeholder.crt" "$f" ;;
      *) printf 'ci-placeholder-token' >"$f" ;;
    esac
    chmod 600 "$f"
  done
  "$work/secretbrokerd" -check-config -config "$copy" >"$work/check.out" 2>&1 || { echo "$cfg:"; cat "$work/check.out"; exit 1; }
  grep -F "configuration is valid" "$work/check.out"
}
check_config deploy/docker/secretbroker.yaml
value_sets=("")
for f in "$CHART"/ci/*.yaml; do value_sets+=("$f"); done
jsons=()
n=0
for values in "${value_sets[@]}"; do
  label=${values:-default values}
  args=(--kube-version "$KUBE_VERSION")
  if [ -n "$values" ]; then args+=(-f "$values"); fi
  echo "== $label"
  "$helm" lint --strict "$CHART" "${args[@]}" | grep -v '^$' | grep -v 'icon is recommended'
  "$helm" template sb "$CHART" --namespace secretbroker "${args[@]}" >"$work/render-$n.yaml"
  "$work/validate" -json "$work/render-$n.json" -configmaps "$work/cm-$n" "$work/render-$n.yaml"
  jsons+=("$work/render-$n.json")
  check_config "$work/cm-$n/secretbroker_sb-secretbroker_secretbroker.yaml"
  n=$((n + 1))
done
schema "${jsons[@]}"

step "chart: renders it must refuse"
refuse() {
  local want=$1; shift
  if "$helm" template sb "$CHART" --kube-version "$KUBE_VERSION" "$@" >"$work/refused.out" 2>&1; then
    echo "helm template $* rendered; want an error containing: $want"; exit 1
  fi
  grep -qF -- "$want" "$work/refused.out" || { echo "helm template $*: error lacks: $want"; cat "$work/refused.out"; exit 1; }
  echo "refused: $*"
}
refuse "is an embedded store" --set-json 'config.providers.store={"embedded":{"path":"store.db"}}'
refuse "config.server.listen is set by the chart" --set config.server.listen=0.0.0.0:9000
refuse "config.admin.listen is set by the chart" --set config.admin.listen=127.0.0.1:7788
refuse "tls.enabled is false" --set tls.enabled=false
refuse "additional properties 'replicas' not allowed" --set replicas=2
refuse "at '/networkPolicy/egress/vaults/0': missing property 'ports'" --set-json 'networkPolicy.egress.vaults=[{"to":[]}]'

step "cross-compile: windows/amd64, linux/arm64"
for target in windows/amd64 linux/arm64; do
  CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} \
    go build -trimpath -ldflags "-s -w" -o "$work/$target/" ./cmd/secretbrokerd ./cmd/secretbroker
  for bin in secretbrokerd secretbroker; do
    ext=""; [ "${target%/*}" = windows ] && ext=.exe
    [ -s "$work/$target/$bin$ext" ] || { echo "$target: $bin$ext was not built"; exit 1; }
  done
  echo "$target: secretbrokerd$ext secretbroker$ext built"
done

echo "    ($step_name: $(( $(date +%s) - step_start )) s)"
echo "ci-deploy: all checks passed in $(( $(date +%s) - t0 )) s"
