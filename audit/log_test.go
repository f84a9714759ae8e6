package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// openLog opens a log at path with a fixed clock, failing t on error.
func openLog(t *testing.T, path string) *Log {
	t.Helper()
	l, err := Open(Options{Path: path, Now: fixedClock(clock0)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// writeN writes n entries numbered from start (in Credential).
func writeN(t *testing.T, l *Log, start, n int) {
	t.Helper()
	for i := range n {
		e := typicalEntry()
		e.Credential = fmt.Sprintf("cred%d", start+i)
		if err := l.Write(e); err != nil {
			t.Fatal(err)
		}
	}
}

// readLines returns the lines of the file at path, each with its line feed.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// mustVerify verifies paths and fails t unless the chain is intact with
// lines lines.
func mustVerify(t *testing.T, lines int, paths ...string) *Report {
	t.Helper()
	r, err := Verify(paths)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.Lines != lines || r.Break != nil {
		t.Fatalf("Verify: %+v, want %d lines intact", r, lines)
	}
	return r
}

func TestNewFileIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %04o, want 0600", perm)
	}
}

func TestOpenRefusesOpenFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602} {
		path := filepath.Join(t.TempDir(), "audit.log")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Options{Path: path})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("has mode %04o", mode)) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: Open error %v, want a refusal that says how to fix it", mode, err)
		}
		if b, _ := os.ReadFile(path); len(b) != 0 {
			t.Errorf("mode %04o: the refused file was written", mode)
		}
	}
}

func TestOpenRefusesNonRegular(t *testing.T) {
	if _, err := Open(Options{Path: t.TempDir()}); err == nil {
		t.Error("Open accepted a directory")
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open accepted an empty path")
	}
}

func TestOpenContinuesChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	writeN(t, l, 0, 3)
	seq, hash := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, path)
	lines := readLines(t, path)
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	want := fmt.Sprintf(`{"type":"anchor","reason":"open","time":"2025-06-07T08:09:10Z","seq":4,"prev":"%s",`, hash)
	if seq != 3 || !strings.HasPrefix(lines[4], want) {
		t.Errorf("after reopening, the last line is\n%s\nwant it to start with\n%s", lines[4], want)
	}
	writeN(t, l, 3, 2)
	l.Close()
	r := mustVerify(t, 7, path)
	if r.Anchors != 2 || r.FirstSeq != 0 || r.LastSeq != 6 {
		t.Errorf("report %+v", r)
	}
}

func TestOpenRefusesBrokenTail(t *testing.T) {
	for name, tail := range map[string]string{
		"incomplete": `{"time":"2025-06-07T08:09:10Z","identity":"x"`,
		"not audit":  "hello world\n",
		"edited":     strings.Replace(goodLine(t), `"seq":0`, `"seq":1`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			if err := os.WriteFile(path, []byte(goodLine(t)+tail), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(Options{Path: path}); err == nil || !strings.Contains(err.Error(), "move") {
				t.Errorf("Open error %v, want a refusal saying what to do", err)
			}
		})
	}
}

// goodLine returns a genesis anchor line.
func goodLine(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Open(Options{Path: "-", Writer: &buf, Now: fixedClock(clock0)}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// rotate moves the file at path to path.N and reopens l.
func rotate(t *testing.T, l *Log, path string, n int) string {
	t.Helper()
	old := fmt.Sprintf("%s.%d", path, n)
	if err := os.Rename(path, old); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	return old
}

func TestReopenChainsAcrossFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	writeN(t, l, 0, 2)
	_, last := l.Head()
	f1 := rotate(t, l, path, 1)
	if old := readLines(t, f1); len(old) != 3 || !strings.HasSuffix(old[2], `"hash":"`+last+"\"}\n") {
		t.Fatalf("rotated file %q does not end with hash %s", old, last)
	}
	lines := readLines(t, path)
	want := fmt.Sprintf(`{"type":"anchor","reason":"reopen","time":"2025-06-07T08:09:10Z","seq":3,"prev":"%s",`, last)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("new file %q, want one anchor starting %s", lines, want)
	}
	writeN(t, l, 2, 2)
	// A SIGHUP without rotation: an anchor in the same file.
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 4, 1)
	l.Close()
	r := mustVerify(t, 8, f1, path)
	if r.Anchors != 3 || r.Files != 2 {
		t.Errorf("report %+v", r)
	}
}

func TestReopenRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	defer l.Close()
	writeN(t, l, 0, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	// Another chain's file where ours should be created.
	if err := os.WriteFile(path, []byte(goodLine(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen accepted a file whose last line is not ours")
	}
	if err := l.Write(typicalEntry()); err == nil {
		t.Error("Write succeeded on a log that failed to reopen")
	}
	if l.Healthy() == nil {
		t.Error("Healthy() = nil after a failed Reopen")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 1, 1)
	if err := l.Healthy(); err != nil {
		t.Errorf("Healthy() = %v after a good write", err)
	}
	mustVerify(t, 4, path+".1", path)
}

// failWriter fails every write while fail is set; with half, it writes
// half of the bytes first.
type failWriter struct {
	mu         sync.Mutex
	buf        bytes.Buffer
	fail, half bool
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.fail && w.half:
		w.buf.Write(p[:len(p)/2])
		return len(p) / 2, errors.New("disk full")
	case w.fail:
		return 0, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func (w *failWriter) set(fail, half bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail, w.half = fail, half
}

func TestWriteErrorsAndHealthy(t *testing.T) {
	w := &failWriter{}
	l, err := Open(Options{Path: "stdout", Writer: w, Now: fixedClock(clock0)})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 0, 1)
	if err := l.Healthy(); err != nil {
		t.Fatalf("Healthy() = %v", err)
	}
	w.set(true, false)
	if err := l.Write(typicalEntry()); err == nil {
		t.Fatal("Write reported no error")
	}
	if err := l.Healthy(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Healthy() = %v, want the write error", err)
	}
	if seq, _ := l.Head(); seq != 1 {
		t.Errorf("seq %d after a failed write, want 1", seq)
	}
	w.set(false, false)
	writeN(t, l, 1, 1)
	if err := l.Healthy(); err != nil {
		t.Errorf("Healthy() = %v after a good write", err)
	}
	// The chain goes on from the last line written: nothing is lost.
	path := filepath.Join(t.TempDir(), "out.log")
	if err := os.WriteFile(path, w.buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, 3, path)

	// A write cut short: the next line stands on its own, and Verify
	// points at the partial one.
	w.set(true, true)
	if err := l.Write(typicalEntry()); err == nil {
		t.Fatal("a short write reported no error")
	}
	w.set(false, false)
	writeN(t, l, 2, 1)
	if err := os.WriteFile(path, w.buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 5 || !strings.HasPrefix(lines[4], `{"time"`) {
		t.Fatalf("lines after a short write: %q", lines)
	}
	_, err = Verify([]string{path})
	var brk *Break
	if !errors.As(err, &brk) || brk.Line != 4 || brk.Kind != KindMalformed {
		t.Errorf("Verify after a short write: %v, want a malformed line 4", err)
	}
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Write": l.Write(typicalEntry()), "Reopen": l.Reopen(), "Close": l.Close(), "Healthy": l.Healthy(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := l.Write(nil); err == nil {
		t.Error("Write(nil) = nil")
	}
}

func TestSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(Options{Path: path, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 0, 3)
	l.Close()
	mustVerify(t, 4, path)
}

func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := typicalEntry()
				e.Time = time.Time{}
				e.Credential = fmt.Sprintf("g%d-%d", g, i)
				if err := l.Write(e); err != nil {
					errs <- err
					return
				}
				if g == 0 && i == each/2 {
					l.Healthy()
					l.Head()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seq, hash := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustVerify(t, writers*each+1, path)
	if r.LastSeq != seq || r.LastHash != hash || seq != writers*each {
		t.Errorf("report ends at seq %d hash %s; Head says %d %s", r.LastSeq, r.LastHash, seq, hash)
	}
}

func TestConcurrentWritesAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if err := l.Write(typicalEntry()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var files []string
	for i := 1; i <= 3; i++ {
		files = append(files, rotate(t, l, path, i))
	}
	wg.Wait()
	l.Close()
	r := mustVerify(t, 4*200+4, append(files, path)...)
	if r.Anchors != 4 {
		t.Errorf("%d anchors, want 4", r.Anchors)
	}
}
