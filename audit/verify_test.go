package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// chain writes three files of five lines each, as rotation leaves them:
// a-1.log (seq 0-4), a-2.log (seq 5-9) and a.log (seq 10-14), each an
// anchor and four entries. It returns their contents.
func chain(t *testing.T) [3][]string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	l := openLog(t, path)
	writeN(t, l, 0, 4)
	for _, name := range []string{"a-1.log", "a-2.log"} {
		if err := os.Rename(path, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		if err := l.Reopen(); err != nil {
			t.Fatal(err)
		}
		writeN(t, l, 0, 4)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return [3][]string{readLines(t, filepath.Join(dir, "a-1.log")), readLines(t, filepath.Join(dir, "a-2.log")), readLines(t, path)}
}

// writeFiles writes each file's lines to dir/<name> and returns the paths.
func writeFiles(t *testing.T, files map[string][]string, order ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, name := range order {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(files[name], "")), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// rehash returns line with old replaced by new in its members and a fresh,
// valid hash: what a forger who knows the format writes. It computes the
// hash from the package comment, not with this package's code.
func rehash(t *testing.T, line, old, new string) string {
	t.Helper()
	body := strings.TrimSuffix(line, "\n")
	body = body[:len(body)-75]
	if !strings.Contains(body, old) {
		t.Fatalf("%q not in %s", old, body)
	}
	body = strings.Replace(body, old, new, 1)
	sum := sha256.Sum256([]byte(body))
	return body + `,"hash":"` + hex.EncodeToString(sum[:]) + "\"}\n"
}

func TestVerifyIntact(t *testing.T) {
	c := chain(t)
	paths := writeFiles(t, map[string][]string{"1": c[0], "2": c[1], "3": c[2], "empty": nil}, "1", "2", "empty", "3")
	r := mustVerify(t, 15, paths...)
	want := Report{Files: 4, Lines: 15, Anchors: 3, FirstSeq: 0, LastSeq: 14, LastHash: c[2][4][len(c[2][4])-67 : len(c[2][4])-3]}
	if *r != want {
		t.Errorf("report %+v, want %+v", *r, want)
	}
	// Older files deleted by retention: the rest still verifies.
	mustVerify(t, 10, paths[1:]...)
}

func TestVerifyDetectsTampering(t *testing.T) {
	c := chain(t)
	// A line written by another writer of the same format: seq 7, as the
	// line it displaces, but chained to another line.
	forged := rehash(t, c[1][2], `"prev":"`+c[1][1][len(c[1][1])-67:len(c[1][1])-3], `"prev":"`+strings.Repeat("ab", 32))
	cases := []struct {
		name   string
		change func(f [3][]string) (files map[string][]string, order []string)
		file   string
		line   int
		kind   BreakKind
		reason string
	}{
		{
			name: "edited field",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1][2] = strings.Replace(f[1][2], `"locker":"demo_erp"`, `"locker":"demo_erq"`, 1)
				return m3(f)
			},
			file: "2", line: 3, kind: KindEdited, reason: "hash mismatch: the line was edited",
		},
		{
			name: "edited seq",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1][2] = strings.Replace(f[1][2], `"seq":7,`, `"seq":8,`, 1)
				return m3(f)
			},
			file: "2", line: 3, kind: KindEdited, reason: "hash mismatch",
		},
		{
			name: "edited and rehashed",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1][2] = rehash(t, f[1][2], `"identity":"spiffe://example.org/bot-runner"`, `"identity":"spiffe://example.org/other"`)
				return m3(f)
			},
			file: "2", line: 4, kind: KindLink, reason: "prev is not the previous line's hash",
		},
		{
			name: "deleted line",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1] = slices.Delete(f[1], 2, 3)
				return m3(f)
			},
			file: "2", line: 3, kind: KindDeleted, reason: "seq 8, want 7: 1 line deleted before this line",
		},
		{
			name: "two deleted lines",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1] = slices.Delete(f[1], 1, 3)
				return m3(f)
			},
			file: "2", line: 2, kind: KindDeleted, reason: "seq 8, want 6: 2 lines deleted",
		},
		{
			name: "inserted copy of a line",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1] = slices.Insert(f[1], 2, f[0][1])
				return m3(f)
			},
			file: "2", line: 3, kind: KindReordered, reason: "seq 1, want 7: a line was inserted here",
		},
		{
			name: "inserted forged line",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1] = slices.Insert(f[1], 2, forged)
				return m3(f)
			},
			file: "2", line: 3, kind: KindLink, reason: "prev is not the previous line's hash",
		},
		{
			name: "swapped lines",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1][2], f[1][3] = f[1][3], f[1][2]
				return m3(f)
			},
			file: "2", line: 3, kind: KindReordered, reason: "seq 8, want 7: lines were reordered",
		},
		{
			name: "middle file removed",
			change: func(f [3][]string) (map[string][]string, []string) {
				return map[string][]string{"1": f[0], "3": f[2]}, []string{"1", "3"}
			},
			file: "3", line: 1, kind: KindAnchor, reason: "the anchor has seq 10 but the last line of",
		},
		{
			name: "tail of a rotated file cut",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[0] = f[0][:4]
				return m3(f)
			},
			file: "2", line: 1, kind: KindAnchor, reason: "1 line missing",
		},
		{
			name: "last line of a rotated file replaced",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[0][4] = rehash(t, f[0][4], `"locker":"demo_erp"`, `"locker":"payroll"`)
				return m3(f)
			},
			file: "2", line: 1, kind: KindAnchor, reason: "the anchor's prev is not the hash of the last line of",
		},
		{
			name: "files out of order",
			change: func(f [3][]string) (map[string][]string, []string) {
				files, _ := m3(f)
				return files, []string{"2", "1", "3"}
			},
			file: "1", line: 1, kind: KindAnchor, reason: "the chain restarts here",
		},
		{
			name: "newer files out of order",
			change: func(f [3][]string) (map[string][]string, []string) {
				files, _ := m3(f)
				return files, []string{"1", "3", "2"}
			},
			file: "3", line: 1, kind: KindAnchor, reason: "5 lines missing",
		},
		{
			name: "anchor deleted",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1] = f[1][1:]
				return m3(f)
			},
			file: "2", line: 1, kind: KindAnchor, reason: "does not start with an anchor",
		},
		{
			name: "chain restarted",
			change: func(f [3][]string) (map[string][]string, []string) {
				files, order := m3(f)
				files["3"] = []string{goodLine(t)}
				return files, order
			},
			file: "3", line: 1, kind: KindAnchor, reason: "the chain restarts here",
		},
		{
			name: "last line cut",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[2][4] = f[2][4][:100]
				return m3(f)
			},
			file: "3", line: 5, kind: KindMalformed, reason: "incomplete line",
		},
		{
			name: "carriage return added",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1][2] = strings.TrimSuffix(f[1][2], "\n") + "\r\n"
				return m3(f)
			},
			file: "2", line: 3, kind: KindMalformed, reason: "not an audit line",
		},
		{
			name: "blank line",
			change: func(f [3][]string) (map[string][]string, []string) {
				f[1] = slices.Insert(f[1], 2, "\n")
				return m3(f)
			},
			file: "2", line: 3, kind: KindMalformed, reason: "not an audit line",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f [3][]string
			for i := range c {
				f[i] = slices.Clone(c[i])
			}
			files, order := tc.change(f)
			paths := writeFiles(t, files, order...)
			r, err := Verify(paths)
			var brk *Break
			if !errors.As(err, &brk) {
				t.Fatalf("Verify error %v, want a *Break", err)
			}
			wantFile := paths[slices.Index(order, tc.file)]
			if brk.File != wantFile || brk.Line != tc.line || brk.Kind != tc.kind || !strings.Contains(brk.Reason, tc.reason) {
				t.Errorf("break %s:%d %s %q\nwant %s:%d %s, reason with %q", brk.File, brk.Line, brk.Kind, brk.Reason,
					wantFile, tc.line, tc.kind, tc.reason)
			}
			if r.Break != brk {
				t.Errorf("Report.Break %v, want the error", r.Break)
			}
			if want := wantFile + ":" + strconv.Itoa(tc.line) + ": chain broken: "; !strings.HasPrefix(brk.Error(), want) {
				t.Errorf("Error() = %q, want it to start with %q", brk.Error(), want)
			}
		})
	}
}

// m3 returns the three files as "1", "2" and "3", in that order.
func m3(f [3][]string) (map[string][]string, []string) {
	return map[string][]string{"1": f[0], "2": f[1], "3": f[2]}, []string{"1", "2", "3"}
}

func TestVerifyTailCutNeedsCheckpoint(t *testing.T) {
	// Lines cut from the end of the newest file leave a chain that
	// verifies; the report's last seq and hash show it against Head.
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	writeN(t, l, 0, 3)
	seq, hash := l.Head()
	l.Close()
	lines := readLines(t, path)
	if err := os.WriteFile(path, []byte(strings.Join(lines[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustVerify(t, 3, path)
	if r.LastSeq == seq || r.LastHash == hash {
		t.Errorf("report ends at the checkpoint (%d %s) though a line was cut", seq, hash)
	}
	if r.LastSeq != 2 {
		t.Errorf("LastSeq %d, want 2", r.LastSeq)
	}
}

func TestVerifyErrors(t *testing.T) {
	if _, err := Verify(nil); err == nil {
		t.Error("Verify(nil) = nil error")
	}
	_, err := Verify([]string{filepath.Join(t.TempDir(), "missing.log")})
	var brk *Break
	if !errors.Is(err, os.ErrNotExist) || errors.As(err, &brk) {
		t.Errorf("missing file: %v, want a not-exist error, not a break", err)
	}
	long := filepath.Join(t.TempDir(), "long.log")
	if err := os.WriteFile(long, []byte(goodLine(t)+strings.Repeat("x", MaxLineSize+10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify([]string{long}); !errors.As(err, &brk) || brk.Line != 2 || brk.Kind != KindMalformed {
		t.Errorf("long line: %v, want a malformed line 2", err)
	}
}

func TestGenesisNeedsZeroPrev(t *testing.T) {
	bad := rehash(t, goodLine(t), `"prev":"`+strings.Repeat("0", 64), `"prev":"`+strings.Repeat("1", 64))
	paths := writeFiles(t, map[string][]string{"x": {bad}}, "x")
	if _, err := Verify(paths); err == nil {
		t.Error("a genesis anchor with a non-zero prev verified")
	}
}

func TestBreakKindText(t *testing.T) {
	for k := KindMalformed; k <= KindAnchor; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got BreakKind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("%v: round trip %v, %v", k, got, err)
		}
	}
	var k BreakKind
	if err := k.UnmarshalText([]byte("nonsense")); err == nil {
		t.Error("UnmarshalText accepted nonsense")
	}
	if s := BreakKind(99).String(); s != "BreakKind(99)" {
		t.Errorf("String() = %q", s)
	}
}
