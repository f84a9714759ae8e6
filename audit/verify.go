package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
)

// BreakKind says how the chain breaks.
type BreakKind int

// The kinds of break.
const (
	// KindMalformed: the line is not an audit line (an incomplete last
	// line, a line too long, not JSON, no chain members).
	KindMalformed BreakKind = iota + 1
	// KindEdited: the line's hash does not match its bytes.
	KindEdited
	// KindDeleted: the seq jumps forward: lines before this one were
	// deleted.
	KindDeleted
	// KindReordered: the seq goes back or repeats: a line was inserted
	// here, or lines were reordered.
	KindReordered
	// KindLink: the seq follows on, but prev is not the previous line's
	// hash: a line was replaced or inserted.
	KindLink
	// KindAnchor: a file's first line is not an anchor, or does not chain
	// to the last line of the file before it (a file is missing, the
	// previous file's end was cut, or the files are out of order), or the
	// chain restarts.
	KindAnchor
)

var kindNames = [...]string{"", "malformed", "edited", "deleted", "reordered", "link", "anchor"}

// String returns the kind's name, such as "edited".
func (k BreakKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("BreakKind(%d)", int(k))
}

// MarshalText returns the kind's name, for JSON.
func (k BreakKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText sets k from its name, as MarshalText writes it.
func (k *BreakKind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if i > 0 && n == string(b) {
			*k = BreakKind(i)
			return nil
		}
	}
	return fmt.Errorf("audit: unknown break kind %q", b)
}

// Break is the first line where the chain breaks. It is the error Verify
// returns for a broken chain.
type Break struct {
	// File is the file as given to Verify.
	File string `json:"file"`
	// Line is the 1-based line number in File.
	Line int `json:"line"`
	// Kind says how the chain breaks.
	Kind BreakKind `json:"kind"`
	// Reason says why, in words.
	Reason string `json:"reason"`
}

// Error returns "FILE:LINE: chain broken: REASON".
func (b *Break) Error() string {
	return fmt.Sprintf("%s:%d: chain broken: %s", b.File, b.Line, b.Reason)
}

// Report is the outcome of Verify.
type Report struct {
	// Files is the number of files read.
	Files int `json:"files"`
	// Lines is the number of lines verified: all of them when the chain is
	// intact, those before the break otherwise.
	Lines int `json:"lines"`
	// Anchors is the number of anchor lines among them.
	Anchors int `json:"anchors"`
	// FirstSeq and LastSeq are the seq of the first and last line
	// verified.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// LastHash is the hash of the last line verified: compare it and
	// LastSeq with a checkpoint (Log.Head) to see lines cut from the end.
	LastHash string `json:"last_hash,omitempty"`
	// Break is the first break, nil when the chain is intact.
	Break *Break `json:"break,omitempty"`
}

// Verify verifies the chain through the files at paths, oldest first (see
// the package comment). It stops at the first break and returns it as the
// error, a *Break, along with the Report; other errors are failures to read
// a file. The Report is never nil.
func Verify(paths []string) (*Report, error) {
	r := &Report{}
	if len(paths) == 0 {
		return r, errors.New("audit: no file to verify")
	}
	v := verifier{r: r}
	for _, p := range paths {
		if err := v.file(p); err != nil {
			return r, err
		}
	}
	return r, nil
}

// verifier carries the chain from line to line and file to file.
type verifier struct {
	r        *Report
	started  bool
	prevFile string // the file of the last verified line
	prevSeq  uint64
	prevHash [hashHexLen]byte
	cur      uint64 // seq of the line being verified
}

// file verifies the lines of the file at path.
func (v *verifier) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	v.r.Files++
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineSize)
	sc.Split(splitLines)
	n := 0
	for sc.Scan() {
		n++
		if brk := v.line(path, n, sc.Bytes()); brk != nil {
			if brk.Kind == KindDeleted && sc.Scan() {
				v.lookAhead(brk, sc.Bytes())
			}
			v.r.Break = brk
			return brk
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			v.r.Break = &Break{File: path, Line: n + 1, Kind: KindMalformed,
				Reason: fmt.Sprintf("line longer than %d bytes: not an audit line", MaxLineSize)}
			return v.r.Break
		}
		return fmt.Errorf("audit: reading %s: %w", path, err)
	}
	return nil
}

// lookAhead turns brk, a seq that jumps forward, into a reordering when
// next, the line after it, holds an earlier seq: the "missing" line is
// there, so lines were swapped or moved rather than deleted.
func (v *verifier) lookAhead(brk *Break, next []byte) {
	if len(next) == 0 || next[len(next)-1] != '\n' {
		return
	}
	li, lerr := parseLine(next[:len(next)-1])
	if lerr != nil || li.seq >= v.cur {
		return
	}
	brk.Kind = KindReordered
	brk.Reason = fmt.Sprintf("seq %d, want %d: lines were reordered (seq %d comes after it)", v.cur, v.prevSeq+1, li.seq)
}

// splitLines splits at line feeds, keeping each line's line feed so that a
// last line without one shows.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// line verifies line n of path, raw with its line feed.
func (v *verifier) line(path string, n int, raw []byte) *Break {
	brk := func(kind BreakKind, format string, args ...any) *Break {
		return &Break{File: path, Line: n, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if raw[len(raw)-1] != '\n' {
		return brk(KindMalformed, "incomplete line at the end of the file (no line feed): the file was cut, or a write was cut short")
	}
	li, lerr := parseLine(raw[:len(raw)-1])
	if lerr != nil {
		return brk(lerr.kind, "%s", lerr.reason)
	}
	v.cur = li.seq
	first := n == 1
	if first && !li.anchor {
		return brk(KindAnchor, "the file does not start with an anchor line: its first lines were deleted, or it is not an audit log")
	}
	if v.started {
		want := v.prevSeq + 1
		switch {
		case li.anchor && li.seq == 0:
			return brk(KindAnchor, "the chain restarts here (genesis anchor, seq 0): the lines before cannot be tied to it; "+
				"if the daemon started on a new file, verify from this file on")
		case first && li.seq != want:
			return brk(KindAnchor, "the anchor has seq %d but the last line of %s has seq %d: %s",
				li.seq, v.prevFile, v.prevSeq, missing(li.seq, want, v.prevFile))
		case li.seq > want:
			return brk(KindDeleted, "seq %d, want %d: %s deleted before this line", li.seq, want, lineCount(li.seq-want))
		case li.seq < want:
			return brk(KindReordered, "seq %d, want %d: a line was inserted here, or lines were reordered", li.seq, want)
		case first && li.prev != v.prevHash:
			return brk(KindAnchor, "the anchor's prev is not the hash of the last line of %s: "+
				"the files are not one chain, or the end of %s was replaced", v.prevFile, v.prevFile)
		case li.prev != v.prevHash:
			return brk(KindLink, "prev is not the previous line's hash: the previous line was replaced, or this one inserted")
		}
	} else {
		v.started = true
		v.r.FirstSeq = li.seq
	}
	v.prevFile, v.prevSeq, v.prevHash = path, li.seq, li.hash
	v.r.Lines++
	if li.anchor {
		v.r.Anchors++
	}
	v.r.LastSeq, v.r.LastHash = li.seq, string(li.hash[:])
	return nil
}

// missing explains an anchor whose seq is not want, the seq after the last
// line of prevFile.
func missing(seq, want uint64, prevFile string) string {
	if seq > want {
		return fmt.Sprintf("%s missing (a file between them was removed, or the end of %s was cut)", lineCount(seq-want), prevFile)
	}
	return "the files are out of order, or overlap"
}

// lineCount returns "1 line" or "N lines".
func lineCount(n uint64) string {
	if n == 1 {
		return "1 line"
	}
	return fmt.Sprintf("%d lines", n)
}
