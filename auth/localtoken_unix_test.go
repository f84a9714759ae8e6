//go:build unix

package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// withUmask runs f with the process umask set to mask. Tests using it must
// not run in parallel.
func withUmask(t *testing.T, mask int, f func()) {
	t.Helper()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

func TestNewLocalAdminToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.token")
	var tok string
	var created bool
	var err error
	withUmask(t, 0, func() { tok, created, err = NewLocalAdminToken(path) })
	if err != nil || !created {
		t.Fatalf("NewLocalAdminToken = %v, %v; want created", created, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Fatalf("token %d characters, decodes to %d bytes (%v); want 32 bytes of base64url", len(tok), len(raw), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %04o with umask 0, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	if string(data) != tok+"\n" {
		t.Errorf("file holds %d bytes, want the token and a newline", len(data))
	}

	again, created, err := NewLocalAdminToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second call: created %v, err %v, same token %v; want the existing token", created, err, again == tok)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the token file", len(entries))
	}
}

func TestNewLocalAdminTokenConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	const n = 8
	var wg sync.WaitGroup
	toks := make([]string, n)
	createdN := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], createdN[i], errs[i] = NewLocalAdminToken(path) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if toks[i] != toks[0] {
			t.Errorf("call %d got another token", i)
		}
		if createdN[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d calls created the file, want 1", creators)
	}
}

func TestNewLocalAdminTokenRefusesUnsafeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.token")
	tok, _, err := NewLocalAdminToken(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := NewLocalAdminToken(path)
		if err == nil {
			t.Errorf("mode %04o accepted", mode)
			continue
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: error %q does not say how to fix it", mode, err)
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error quotes the token")
		}
	}

	t.Run("other owner", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to give the file to another uid")
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		_, _, err := NewLocalAdminToken(path)
		if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("file of uid 65534: err = %v, want a refusal naming the owner", err)
		}
	})

	t.Run("not a regular file", func(t *testing.T) {
		p := filepath.Join(dir, "adir")
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := NewLocalAdminToken(p); err == nil {
			t.Error("a directory was accepted as the token file")
		}
	})

	t.Run("empty", func(t *testing.T) {
		p := filepath.Join(dir, "empty.token")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := NewLocalAdminToken(p); err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("empty file: err = %v", err)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		_, _, err := NewLocalAdminToken(filepath.Join(dir, "nope", "admin.token"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing directory: err = %v, want one wrapping ErrNotExist", err)
		}
	})
}
