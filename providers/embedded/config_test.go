package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers/providertest"
)

// Both Config and *Config satisfy the daemon's Validator interface.
var (
	_ interface{ Validate() error } = Config{}
	_ interface{ Validate() error } = (*Config)(nil)
)

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{OpenTimeout: -time.Second, Create: true, Writable: boolPtr(false)}
	want := []string{"path", "key_file", "open_timeout", "create"}
	providertest.WantConfigFields(t, cfg.Validate(), want...)
	// New reports the same list.
	_, err := New(context.Background(), cfg)
	providertest.WantConfigFields(t, err, want...)
}

func TestValidateChecks(t *testing.T) {
	dir := t.TempDir()
	store, key := filepath.Join(dir, "s.db"), filepath.Join(dir, "s.key")
	cases := []struct {
		name  string
		cfg   Config
		field string // "" = valid
	}{
		{"new store", Config{Path: store, KeyFile: key, Create: true}, ""},
		{"writable", Config{Path: store, KeyFile: key, Create: true, Writable: boolPtr(true)}, ""},
		{"no path", Config{KeyFile: key, Create: true}, "path"},
		{"no key file", Config{Path: store, Create: true}, "key_file"},
		{"same file", Config{Path: store, KeyFile: dir + "/./s.db", Create: true}, "key_file"},
		{"negative timeout", Config{Path: store, KeyFile: key, Create: true, OpenTimeout: -time.Second}, "open_timeout"},
		{"create and not writable", Config{Path: store, KeyFile: key, Create: true, Writable: boolPtr(false)}, "create"},
		{"missing store without create", Config{Path: store, KeyFile: key}, "path"},
		{"path is a directory", Config{Path: dir, KeyFile: key, Create: true}, "path"},
		{"key file is a directory", Config{Path: store, KeyFile: dir, Create: true}, "key_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			providertest.WantConfigFields(t, err, c.field)
			ce := wantConfigError(t, err, c.field)
			if ce.Problem == "" || ce.Fix == "" {
				t.Fatalf("no problem or fix: %+v", ce)
			}
			// New refuses it the same way.
			_, err = New(context.Background(), c.cfg)
			wantConfigError(t, err, c.field)
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("validation created files: %v", entries)
	}
}

// TestValidateExistingFiles: Validate reads an existing store's key file
// the way New does, and refuses a store without its key.
func TestValidateExistingFiles(t *testing.T) {
	cfg := testConfig(t)
	mustNew(t, cfg).Close()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate of a working store: %v", err)
	}
	if err := os.Chmod(cfg.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	ce := wantConfigError(t, cfg.Validate(), "key_file")
	if ce.Fix != "chmod 600 "+cfg.KeyFile {
		t.Fatalf("fix %q", ce.Fix)
	}
	if err := os.WriteFile(cfg.KeyFile, []byte("not a key, but secret-looking text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.KeyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	wantConfigError(t, err, "key_file")
	if strings.Contains(err.Error(), "secret-looking") {
		t.Fatalf("the error quotes the key file: %v", err)
	}
	if err := os.Remove(cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
	ce = wantConfigError(t, cfg.Validate(), "key_file")
	if !strings.Contains(ce.Problem, "is missing") {
		t.Fatalf("unhelpful: %v", ce)
	}
}

// TestValidateRelativePaths: relative paths are the daemon's data
// directory's, which Validate does not know, so it leaves those files
// alone; New, given the paths it opens, checks them.
func TestValidateRelativePaths(t *testing.T) {
	dir := t.TempDir()
	if err := writeNewKey(filepath.Join(dir, "store.key")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg := Config{Path: "store.db", KeyFile: "store.key", Create: true}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate looked at relative paths: %v", err)
	}
	_, err := New(context.Background(), cfg)
	wantConfigError(t, err, "path")
}
