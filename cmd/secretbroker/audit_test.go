package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretbroker/secretbroker/audit"
)

// auditFiles writes an audit log rotated once: old (an anchor and two
// entries) and cur (an anchor and one entry). It returns their paths and
// the log's last seq and hash.
func auditFiles(t *testing.T) (old, cur string, seq uint64, hash string) {
	t.Helper()
	dir := t.TempDir()
	cur = filepath.Join(dir, "audit.log")
	old = cur + ".1"
	l, err := audit.Open(audit.Options{Path: cur})
	if err != nil {
		t.Fatal(err)
	}
	write := func() {
		e := &audit.Entry{Identity: "cli", Operation: "list", Decision: "allowed", Code: "OK", LatencyMS: 0.5}
		if err := l.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	write()
	write()
	if err := os.Rename(cur, old); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	write()
	seq, hash = l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return old, cur, seq, hash
}

func TestAuditVerify(t *testing.T) {
	old, cur, seq, hash := auditFiles(t)
	r := runCLI(t, "", "audit", "verify", old, cur)
	if want := "5 lines verified, chain intact\nlast line: seq 4, hash " + hash + "\n"; r.code != 0 || r.stdout != want || r.stderr != "" || seq != 4 {
		t.Errorf("code %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, want)
	}

	r = runCLI(t, "", "audit", "verify", "-o", "json", old, cur)
	var got struct {
		Intact   bool   `json:"intact"`
		Lines    int    `json:"lines"`
		Files    int    `json:"files"`
		LastSeq  uint64 `json:"last_seq"`
		LastHash string `json:"last_hash"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("-o json: code %d, %v in %q", r.code, err, r.stdout)
	}
	if !got.Intact || got.Lines != 5 || got.Files != 2 || got.LastSeq != 4 || got.LastHash != hash {
		t.Errorf("-o json: %+v", got)
	}

	// The middle file missing: the newer file's anchor does not follow on.
	r = runCLI(t, "", "audit", "verify", cur)
	if r.code != 0 {
		t.Errorf("the newest file alone: code %d, stderr %q", r.code, r.stderr)
	}
}

func TestAuditVerifyBroken(t *testing.T) {
	old, cur, _, _ := auditFiles(t)
	b, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines[1] = strings.Replace(lines[1], `"identity":"cli"`, `"identity":"cla"`, 1)
	if err := os.WriteFile(old, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "audit", "verify", old, cur)
	wantOneErrorLine(t, r, 1)
	if want := "secretbroker: " + old + ":2: chain broken: hash mismatch: the line was edited\n"; r.stderr != want {
		t.Errorf("stderr %q\nwant %q", r.stderr, want)
	}

	r = runCLI(t, "", "audit", "verify", "-o", "json", old, cur)
	var got struct {
		Intact bool
		Lines  int
		Break  *audit.Break
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	if r.code != 1 || got.Intact || got.Lines != 1 || got.Break == nil || got.Break.File != old || got.Break.Line != 2 {
		t.Errorf("-o json: code %d, %+v %+v", r.code, got, got.Break)
	}
	if !strings.Contains(r.stdout, `"kind": "edited"`) {
		t.Errorf("-o json does not name the kind: %s", r.stdout)
	}

	// Files out of order.
	r = runCLI(t, "", "audit", "verify", cur, old)
	wantOneErrorLine(t, r, 1)
	if !strings.HasPrefix(r.stderr, "secretbroker: "+old+":1: chain broken: ") {
		t.Errorf("out of order: stderr %q", r.stderr)
	}
}

func TestAuditUsage(t *testing.T) {
	for _, args := range [][]string{
		{"audit", "nosuch"},
		{"audit", "verify"},
		{"audit", "verify", "-nosuchflag", "x"},
		{"audit", "verify", "-addr", "127.0.0.1:1", "x"}, // offline: no -addr
	} {
		wantOneErrorLine(t, runCLI(t, "", args...), 2)
	}
	r := runCLI(t, "", "audit")
	if r.code != 2 || !strings.Contains(r.stderr, "Usage: secretbroker audit verify") {
		t.Errorf("audit: code %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"audit", "-h"}, {"audit", "verify", "-h"}, {"help", "audit", "verify"}} {
		r := runCLI(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: secretbroker audit verify") {
			t.Errorf("%q: code %d, stdout %q", args, r.code, r.stdout)
		}
	}
	r = runCLI(t, "", "audit", "verify", "-h")
	for _, want := range []string{"chain intact", "FILE:LINE: chain broken", "oldest first", "Example"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit verify -h lacks %q", want)
		}
	}
	r = runCLI(t, "", "audit", "verify", filepath.Join(t.TempDir(), "missing.log"))
	wantOneErrorLine(t, r, 1)
}
