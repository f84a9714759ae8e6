package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretbroker/secretbroker/configs"
)

func TestDefaultConfig(t *testing.T) {
	cfg, err := Parse(configs.DefaultName, configs.Default)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen() != DefaultListen || cfg.Providers["store"].Kind() != "embedded" || cfg.Lockers["demo"].Prefix != "demo" {
		t.Fatalf("unexpected default: %+v", cfg)
	}
	if !cfg.LocalAdminToken() || cfg.AdminListen() != DefaultAdminListen || cfg.Audit.Path != "audit.log" {
		t.Fatalf("unexpected default: %+v", cfg)
	}
}

// TestExamples loads every example in configs/: each must stay valid.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func parseErr(t *testing.T, yaml string) string {
	t.Helper()
	_, err := Parse("test.yaml", []byte(yaml))
	if err == nil {
		t.Fatalf("accepted:\n%s", yaml)
	}
	return err.Error()
}

const base = `providers:
  store:
    embedded:
      path: s.db
      key_file: s.key
  ark:
    cyberark:
      url: https://ccp.example.com
      app_id: RPA
lockers:
  demo:
    provider: store
    prefix: demo
`

func TestErrorsNameFileLineAndFix(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", base + "    colour: blue\n", "test.yaml:14: unknown field colour"},
		{"unknown top-level", "servers: {}\n" + base, "test.yaml:1: unknown field servers"},
		{"bad duration", "server:\n  request_timeout: soon\n" + base, "test.yaml:2:"},
		{"unknown provider", base + "  gl:\n    provider: nope\n    safe: finance\n", `test.yaml:15: locker "gl": provider "nope" is not defined (defined: ark, store)`},
		{"prefix on cyberark", base + "  gl:\n    provider: ark\n    prefix: finance\n", `test.yaml:16: locker "gl": provider "ark" (cyberark): naming: invalid name: a CyberArk provider keeps a locker's credentials in a Safe: write safe, not prefix`},
		{"safe on embedded", base + "  gl:\n    provider: store\n    prefix: p\n    safe: s\n", `test.yaml:17: locker "gl": provider "store" (embedded): naming: invalid name: safe is for CyberArk providers`},
		{"no prefix", base + "  gl:\n    provider: store\n", `test.yaml:14: locker "gl": provider "store" (embedded): naming: invalid name: prefix is empty`},
		{"duration in words", "server:\n  request_timeout: soon\n" + base, `test.yaml:2: "soon" is text, but a duration such as 30s, 5m or 1h is expected here`},
		{"bool in words", "server:\n  reload_on_change: 30s\n" + base, `test.yaml:2: "30s" is text, but true or false is expected here`},
		{"locker in words", base + "  gl: [a]\n", `test.yaml:14: found a list, but a locker block, such as {provider: store, prefix: demo} is expected here`},
		{"empty providers", "providers: {}\nlockers: {demo: {provider: store, prefix: demo}}\n", `test.yaml:2: locker "demo": provider "store" is not defined (no providers are defined)`},
		{"plaintext off loopback", "server:\n  listen: 0.0.0.0:7787\n" + base, "test.yaml:2: server.listen: 0.0.0.0:7787 is not a loopback address and has no TLS"},
		{"policy operation", "policy:\n  clients:\n    - name: a\n      identities: [x]\n      operations: [read]\n" + base, "test.yaml:5: policy.clients[0].operations[0]"},
		{"token hash", "auth:\n  tokens:\n    - {identity: x, sha256: abc}\n" + base, "test.yaml:2: auth.tokens"},
		{"places and provider", base + "  gl:\n    provider: store\n    prefix: p\n    places: [{provider: store, prefix: q}]\n", `locker "gl": give either provider with prefix or safe, or places, not both`},
		{"place undefined", base + "  gl:\n    places: [{provider: store, prefix: q}, {provider: nope, prefix: q}]\n", `locker "gl" place 2: provider "nope" is not defined`},
		{"unknown place field", base + "  gl:\n    places: [{provider: store, prefx: q}]\n", "test.yaml:15: unknown field prefx"},
		{"duplicate locker", base + "  demo:\n    provider: store\n    prefix: again\n", `test.yaml:14: locker "demo" is defined twice (first at line 11): remove one`},
		{"ccp unknown locker", base + "ccp:\n  listen: 127.0.0.1:7790\n  tls: {cert_file: a, key_file: b, client_ca_file: c}\n  safes: {finance: nope}\n", `ccp.safes: Safe "finance" maps to locker "nope", which is not defined`},
		{"two kinds", strings.Replace(base, "  ark:\n", "  ark:\n    embedded: {path: x, key_file: y}\n", 1), `provider "ark" must have exactly one of the blocks`},
		{"bad encoding", strings.Replace(base, "    embedded:\n", "    naming: {encoding: base64}\n    embedded:\n", 1), `test.yaml:3: provider "store": naming.encoding "base64"`},
		{"bad regex", strings.Replace(base, "    embedded:\n", "    naming: {allowed: '[a-'}\n    embedded:\n", 1), "test.yaml:3:"},
		{"bad template", base + "    username_template: '$domain'\n", "test.yaml:14:"},
		{"bad listen", "server:\n  listen: nowhere\n" + base, "test.yaml:2: server.listen"},
		{"bad log level", "server:\n  log_level: loud\n" + base, "test.yaml:2: server.log_level"},
		{"syntax", "providers: [\n", "test.yaml:"},
		{"autologin bad format", base + "autologin:\n  provider: store\n  format: login_{user}\n", "test.yaml:16: autologin:"},
		{"safe too long", base + "  gl:\n    provider: ark\n    safe: " + strings.Repeat("s", 29) + "\n", "test.yaml:16:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := parseErr(t, c.yaml)
			if !strings.Contains(got, c.want) {
				t.Fatalf("error:\n%s\nwant it to contain:\n%s", got, c.want)
			}
		})
	}
}

func TestAmbiguousRawSetWarns(t *testing.T) {
	y := strings.Replace(base, "    embedded:\n", "    naming: {allowed: '^[A-Za-z0-9/_+=.@-]+$'}\n    embedded:\n", 1)
	cfg, err := Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "test.yaml:3:") || !strings.Contains(w[0], `"store"`) {
		t.Fatalf("warnings %q", w)
	}
}

// TestEveryErrorAtOnce: a file with several mistakes gets all of them, in
// line order, each with its line.
func TestEveryErrorAtOnce(t *testing.T) {
	y := `server:
  log_level: loud
  request_timeout: soon
providers:
  store:
    embedded: {path: s.db, key_file: s.key, colour: blue}
lockers:
  demo: {provider: nope, prefix: demo}
  gl: {provider: store}
`
	_, err := Parse("multi.yaml", []byte(y))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d", e.Line))
	}
	if strings.Join(got, " ") != "2 3 6 8 9" {
		t.Fatalf("lines %v of\n%v\nwant 2 3 6 8 9", got, err)
	}
}

func TestBuiltInConfigSaysSo(t *testing.T) {
	_, err := Parse(configs.DefaultName, append(append([]byte{}, configs.Default...), []byte("colour: blue\n")...))
	if err == nil || !strings.Contains(err.Error(), "configs/secretbroker.yaml (built in):") {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkParseLockers parses a configuration with 40,000 lockers.
func BenchmarkParseLockers(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("providers:\n  store:\n    embedded: {path: s.db, key_file: s.key}\nlockers:\n")
	for i := 0; i < 40_000; i++ {
		fmt.Fprintf(&sb, "  locker%d: {provider: store, prefix: p%d}\n", i, i)
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSplitListen(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:1": "tcp 127.0.0.1:1", "unix:/a/b.sock": "unix /a/b.sock", "unix:///a.sock": "unix /a.sock"} {
		n, a, err := SplitListen(in)
		if err != nil || n+" "+a != want {
			t.Errorf("%s: %s %s %v", in, n, a, err)
		}
	}
	for _, bad := range []string{"unix:", "nowhere"} {
		if _, _, err := SplitListen(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
