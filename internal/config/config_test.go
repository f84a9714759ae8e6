package config

import (
	"context"
	"errors"
	"os"
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
	b, err := cfg.Build(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
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
		{"prefix on cyberark", base + "  gl:\n    provider: ark\n    prefix: finance\n", `test.yaml:16: locker "gl": provider "ark" is CyberArk`},
		{"safe on embedded", base + "  gl:\n    provider: store\n    prefix: p\n    safe: s\n", `test.yaml:17: locker "gl": safe is for CyberArk`},
		{"no prefix", base + "  gl:\n    provider: store\n", `test.yaml:14: locker "gl": prefix is required`},
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

func TestBuildErrorNamesTheField(t *testing.T) {
	dir := t.TempDir()
	y := "providers:\n  store:\n    embedded:\n      path: s.db\n      key_file: s.key\nlockers:\n  demo:\n    provider: store\n    prefix: demo\n"
	cfg, err := Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	// Without create: true a missing store is an error, and nothing is created.
	_, err = cfg.Build(context.Background(), dir, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Line == 0 {
		t.Fatalf("got %v, want an *Error with a line", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed build left files: %v", entries)
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
