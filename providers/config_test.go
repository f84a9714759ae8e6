package providers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFileProblem(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "secret-name-in-path.pem")
	_, errMissing := os.ReadFile(missing)
	_, errDir := os.ReadFile(dir)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"missing file", errMissing, "no such file"},
		{"wrapped missing file", fmt.Errorf("load: %w", errMissing), "no such file"},
		{"permission", &fs.PathError{Op: "open", Path: missing, Err: fs.ErrPermission}, "permission denied"},
		{"directory", errDir, syscall.EISDIR.Error()},
		{"other path error", &fs.PathError{Op: "read", Path: missing, Err: syscall.EIO}, syscall.EIO.Error()},
		{"not a path error", errors.New("short read"), "short read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := FileProblem(c.err)
			if got != c.want {
				t.Fatalf("FileProblem(%v) = %q, want %q", c.err, got, c.want)
			}
			if strings.Contains(got, dir) {
				t.Fatalf("FileProblem(%v) = %q repeats the path", c.err, got)
			}
		})
	}
}

func TestJoinErrors(t *testing.T) {
	if err := JoinErrors(nil); err != nil {
		t.Fatalf("JoinErrors(nil) = %v, want nil", err)
	}
	one := &ConfigError{Field: "url", Problem: "is required"}
	if err := JoinErrors([]error{one}); err != one {
		t.Fatalf("JoinErrors(one) = %#v, want the error itself", err)
	}
	two := &ConfigError{Field: "timeout", Problem: "must not be negative"}
	err := JoinErrors([]error{one, two})
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("JoinErrors(two) = %T, want an errors.Join error", err)
	}
	if got := j.Unwrap(); len(got) != 2 || got[0] != one || got[1] != two {
		t.Fatalf("JoinErrors(two) joins %v, want [%v %v]", got, one, two)
	}
}
