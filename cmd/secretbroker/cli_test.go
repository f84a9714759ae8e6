package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// result is what one run of the program printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// testEnv is an empty environment without a home directory, so that no
// token of the machine running the tests is found.
func testEnv() env {
	noDir := func() (string, error) { return "", errors.New("no home directory in tests") }
	return env{getenv: func(string) string { return "" }, homeDir: noDir, configDir: noDir}
}

// runCLI runs the program with args and stdin in testEnv.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIEnv(t, testEnv(), stdin, args...)
}

// runCLIEnv runs the program with args and stdin in e.
func runCLIEnv(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	// The deadline only stops a hung run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := runEnv(ctx, args, strings.NewReader(stdin), &out, &errb, e)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// wantOneErrorLine fails t unless r exited with code and printed exactly one
// line, "secretbroker: ...", on stderr and nothing on stdout.
func wantOneErrorLine(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "secretbroker: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr = %q, want one line starting with \"secretbroker: \"", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"-nosuchflag", "lockers"},
		{"-o", "yaml", "lockers"},
		{"-timeout", "0s", "lockers"},
		{"get", "-nosuchflag"},
		{"get", "-locker", "finance"},
		{"get", "-credential", "pdf"},
		{"get", "-locker", "finance", "-credential", "pdf", "extra"},
		{"get", "-o", "yaml", "-locker", "finance", "-credential", "pdf"},
		{"autologin"},
		{"resolve", "-autologin"},
		{"resolve", "-autologin", "-user", "u", "-locker", "finance"},
		{"resolve", "-user", "u"},
		{"lockers", "extra"},
		{"put", "-locker", "finance", "-credential", "pdf"},
		{"put", "-locker", "finance", "-credential", "pdf", "=value"},
		{"put", "-locker", "finance", "-credential", "pdf", "a=1", "a=2"},
		{"put", "-locker", "finance", "-credential", "pdf", "a=@"},
		{"put", "-locker", "finance", "-credential", "pdf", "a=1", "-user", "u"},
		{"delete", "-autologin"},
		{"delete", "-credential", "pdf"},
		{"name", "nosuchsubcommand"},
		{"name", "encode", "-system", "-prefix", "p", "-credential", "c"},
		{"name", "encode", "-kind", "gcp", "-system", "-prefix", "p", "-credential", "c"},
		{"name", "encode", "-kind", "aws", "-prefix", "p", "-credential", "c"},
		{"name", "encode", "-kind", "aws", "-system", "-user-defined", "-prefix", "p", "-credential", "c", "-user", "u"},
		{"name", "encode", "-kind", "aws", "-system", "-credential", "c"},
		{"name", "encode", "-kind", "aws", "-system", "-prefix", "p"},
		{"name", "encode", "-kind", "aws", "-system", "-prefix", "p", "-credential", "c", "-user", "u"},
		{"name", "encode", "-kind", "aws", "-user-defined", "-prefix", "p", "-credential", "c"},
		{"name", "encode", "-kind", "aws", "-autologin"},
		{"name", "encode", "-kind", "aws", "-autologin", "-user", "u", "-credential", "c"},
		{"name", "encode", "-kind", "aws", "-system", "-prefix", "p", "-credential", "c", "-map", "u=n"},
		{"name", "encode", "-kind", "aws", "-autologin", "-user", "u", "-map", "nonsense"},
		{"name", "encode", "-kind", "aws", "-autologin", "-user", "u", "-map", "u=a", "-map", "u=b"},
		{"name", "encode", "-kind", "aws", "-system", "-safe", "finance", "-credential", "c"},
		{"name", "encode", "-kind", "cyberark", "-system", "-safe", "finance", "-prefix", "p", "-credential", "c"},
		{"name", "encode", "-kind", "aws", "-encoding", "base64", "x"},
		{"name", "encode", "-kind", "aws", "-encoding", "none", "-allowed", "^[a-z]+$", "x"},
		{"name", "encode", "-kind", "aws", "-system", "x"},
		{"name", "encode", "-kind", "aws", "x", "y"},
		{"name", "decode", "-kind", "aws"},
		{"name", "decode", "x"},
		{"name", "kinds", "extra"},
		{"version", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			wantOneErrorLine(t, runCLI(t, "", args...), 2)
		})
	}
}

func TestUsageWithoutCommand(t *testing.T) {
	for _, args := range [][]string{nil, {"name"}} {
		r := runCLI(t, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "Usage:") || r.stdout != "" {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 2 and usage on stderr", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"help", "get"}, {"get", "-h"}, {"autologin", "-h"}, {"resolve", "-h"},
		{"lockers", "-h"}, {"put", "-h"}, {"delete", "-h"}, {"version", "-h"},
		{"name", "-h"}, {"help", "name", "encode"}, {"name", "encode", "-h"}, {"name", "decode", "-h"}, {"name", "kinds", "-h"},
	} {
		r := runCLI(t, "", args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage: secretbroker") {
			t.Errorf("%q: code %d, stderr %q, stdout %q; want 0 and usage on stdout", args, r.code, r.stderr, r.stdout)
		}
		if len(args) > 1 && !strings.Contains(r.stdout, "Example") && args[0] != "name" {
			t.Errorf("%q: usage has no example:\n%s", args, r.stdout)
		}
	}
	r := runCLI(t, "", "put", "-h")
	for _, want := range []string{"key=-", "shell history", "key=@file"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("put -h does not document %q", want)
		}
	}
	r = runCLI(t, "", "get", "-h")
	for _, want := range []string{"-o json", "UNMASKED", "-reveal", "-attr"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get -h does not document %q", want)
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("version: code %d, stderr %q", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "secretbroker ") {
		t.Errorf("version printed %q", out.String())
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb\rc\u2028d\xff"); got != "a b c d\uFFFD" {
		t.Errorf("oneLine = %q", got)
	}
	if got := quote(`ABCD\user123`); got != `"ABCD\user123"` {
		t.Errorf("quote = %s", got)
	}
	if got := quote("a\"b"); got != `"a\"b"` {
		t.Errorf("quote = %s", got)
	}
}

func TestEncodePurpose(t *testing.T) {
	for in, want := range map[string]string{
		`ABCD\user123`: `ABCD\user123`,
		"josé":         "jos%C3%A9",
		"50%":          "50%25",
		"a\nb":         "a%0Ab",
	} {
		if got := encodePurpose(in); got != want {
			t.Errorf("encodePurpose(%q) = %q, want %q", in, got, want)
		}
	}
}
