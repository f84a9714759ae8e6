package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readGood returns testdata/good.yaml, a render that passes.
func readGood(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runOn runs the validator on manifest text and returns its exit code and
// standard error.
func runOn(t *testing.T, manifest string, extra ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append(extra, "-"), strings.NewReader(manifest), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGoodPasses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "docs.json")
	cms := filepath.Join(t.TempDir(), "configmaps")
	code, stdout, stderr := runOn(t, readGood(t), "-json", out, "-configmaps", cms)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if want := "validate: 6 documents valid (1 ConfigMap, 1 Deployment, 1 NetworkPolicy, 1 PodDisruptionBudget, 1 Service, 1 ServiceMonitor)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Source string         `json:"source"`
		Doc    map[string]any `json:"doc"`
	}
	if err := json.Unmarshal(b, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 6 || docs[1].Source != "-#2 Deployment rpa/sb" || docs[1].Doc["kind"] != "Deployment" {
		t.Errorf("-json wrote %d documents, second %q %v", len(docs), docs[1].Source, docs[1].Doc["kind"])
	}
	cfg, err := os.ReadFile(filepath.Join(cms, "rpa_sb_secretbroker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "server: {listen: 0.0.0.0:7787}\n"; string(cfg) != want {
		t.Errorf("-configmaps wrote %q, want %q", cfg, want)
	}
}

// TestBroken breaks the good render one way at a time: each must fail,
// with a message that says what is wrong.
func TestBroken(t *testing.T) {
	good := readGood(t)
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown field", "  replicas: 2", "  replicas: 2\n  replica: 2", `unknown field "spec.replica"`},
		{"misplaced field", "          image: secretbroker:0.1.0", "          image: secretbroker:0.1.0\n          fsGroup: 1", `unknown field "spec.template.spec.containers[0].fsGroup"`},
		{"field case", "  maxUnavailable: 1", "  MaxUnavailable: 1", `unknown field "spec.MaxUnavailable"`},
		{"duplicate field", "  replicas: 2", "  replicas: 2\n  replicas: 3", `key "replicas" already set`},
		{"wrong type", "containerPort: 7787}", "containerPort: seven}", `containerPort`},
		{"bad quantity", "sizeLimit: 256Mi", "sizeLimit: lots", `quantities must match`},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", `"PodDisruptionBudgets" is not one this validator knows`},
		{"old apiVersion", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", `"policy/v1beta1" kind "PodDisruptionBudget" is not one`},
		{"bad name", "  name: sb\n  namespace: monitoring", "  name: SB\n  namespace: monitoring", `metadata.name`},
		{"bad label", "  labels: {app: sb}\nspec:\n  selector", "  labels: {app: 'a b'}\nspec:\n  selector", `metadata.labels`},
		{"selector misses template", "    metadata:\n      labels: {app: sb}", "    metadata:\n      labels: {app: other}", "spec.selector does not select spec.template.metadata.labels"},
		{"service selects nothing", "  selector: {app: sb}\n  ports", "  selector: {app: nobody}\n  ports", "selects no pod template"},
		{"service port name", "targetPort: admin}", "targetPort: metrics}", `names port "metrics", which the selected pods do not declare`},
		{"probe port name", "readinessProbe: {httpGet: {path: /readyz, port: admin}}", "readinessProbe: {httpGet: {path: /readyz, port: http}}", `readinessProbe.httpGet.port names "http"`},
		{"probe missing", "          livenessProbe: {httpGet: {path: /healthz, port: admin}}\n", "", "livenessProbe is missing"},
		{"mount without volume", "{name: data, mountPath", "{name: state, mountPath", `mounts volume "state"`},
		{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"privilege escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
		{"capabilities kept", "capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}", "capabilities.drop does not contain ALL"},
		{"root", "runAsNonRoot: true\n        runAsUser: 65532", "runAsNonRoot: false\n        runAsUser: 0", "runAsNonRoot is not true"},
		{"no seccomp", "        seccompProfile: {type: RuntimeDefault}\n", "", "seccompProfile is not RuntimeDefault"},
		{"pdb selects nothing", "  maxUnavailable: 1\n  selector:\n    matchLabels: {app: sb}", "  maxUnavailable: 1\n  selector:\n    matchLabels: {app: x}", "PodDisruptionBudget rpa/sb: spec.selector selects no pod template"},
		{"netpol named port", "ports: [{port: grpc, protocol: TCP}]", "ports: [{port: grcp, protocol: TCP}]", `names port "grcp"`},
		{"netpol cidr", "cidr: 198.51.100.0/24", "cidr: 198.51.100.0/33", "cidr"},
		{"servicemonitor namespace", "matchNames: [rpa]", "matchNames: [other]", "selects no Service of this render"},
		{"servicemonitor port", "{port: admin, path: /metrics", "{port: metrics, path: /metrics", `port "metrics" is not a port name`},
		{"servicemonitor field", "{port: admin, path: /metrics, interval: 30s}", "{port: admin, path: /metrics, intervall: 30s}", `unknown field "spec.endpoints[0].intervall"`},
		{"configmap key", "  secretbroker.yaml: |", "  secret/broker.yaml: |", `data key "secret/broker.yaml"`},
		{"not yaml", "  replicas: 2", "  replicas: [2", "not valid YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("testdata/good.yaml lacks %q", c.old)
			}
			broken := strings.Replace(good, c.old, c.new, 1)
			code, _, stderr := runOn(t, broken)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, stderr)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, strings.NewReader(""), &stdout, &stderr); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
	if code := run([]string{filepath.Join(t.TempDir(), "missing.yaml")}, strings.NewReader(""), &stdout, &stderr); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
}
