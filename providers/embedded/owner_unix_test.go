//go:build unix

package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// otherUsersFile returns a regular file that belongs to another user than
// the test's, holding a valid key when the test can write it.
func otherUsersFile(t *testing.T) string {
	t.Helper()
	if os.Getuid() == 0 {
		f := filepath.Join(t.TempDir(), "other")
		if err := writeNewKey(f); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(f, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, f := range []string{"/etc/passwd", "/etc/hostname", "/etc/hosts"} {
		info, err := os.Stat(f)
		if err == nil && info.Mode().IsRegular() && int(info.Sys().(*syscall.Stat_t).Uid) != os.Getuid() {
			return f
		}
	}
	t.Skip("no file of another user to test with")
	return ""
}

func TestOtherUsersFilesRefused(t *testing.T) {
	other := otherUsersFile(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"store", Config{Path: other, KeyFile: filepath.Join(dir, "s.key"), Create: true}, "path"},
		{"key file", Config{Path: filepath.Join(dir, "s.db"), KeyFile: other, Create: true}, "key_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for name, err := range map[string]error{
				"Validate": c.cfg.Validate(),
				"New":      func() error { _, err := New(context.Background(), c.cfg); return err }(),
			} {
				ce := wantConfigError(t, err, c.field)
				if !strings.Contains(ce.Problem, "belongs to user id") || !strings.Contains(ce.Fix, "chown") {
					t.Fatalf("%s: unhelpful error: %v", name, err)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused configurations created files: %v", entries)
	}
}
