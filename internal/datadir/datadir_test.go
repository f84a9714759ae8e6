package datadir

import (
	"errors"
	"runtime"
	"testing"
)

func TestDefault(t *testing.T) {
	l := Lookups{
		Getenv:    func(k string) string { return map[string]string{"XDG_STATE_HOME": "/state"}[k] },
		HomeDir:   func() (string, error) { return "/home/me", nil },
		ConfigDir: func() (string, error) { return "/conf", nil },
	}
	if d, err := Default(l); err != nil || d != "/state/secretbroker" {
		t.Fatalf("with XDG_STATE_HOME: %q %v", d, err)
	}
	l.Getenv = func(string) string { return "" }
	want := "/conf/secretbroker"
	if runtime.GOOS == "linux" {
		want = "/home/me/.local/state/secretbroker"
	}
	if d, err := Default(l); err != nil || d != want {
		t.Fatalf("without: %q %v, want %q", d, err, want)
	}
	l.HomeDir = func() (string, error) { return "", errors.New("no home") }
	l.ConfigDir = l.HomeDir
	if _, err := Default(l); err == nil {
		t.Fatal("no error without a home")
	}
}
