package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

// ErrClosed is returned by the methods of a Log after Close.
var ErrClosed = errors.New("audit log is closed")

// Options configures a Log.
type Options struct {
	// Path is the file to append to, created with mode 0600 when missing.
	// "-" or "stdout" writes to Writer instead. Required.
	Path string
	// Writer receives the lines when Path is "-" or "stdout"; os.Stdout
	// when nil. It is unused for a file.
	Writer io.Writer
	// Sync makes every Write fsync the file before it returns, so that an
	// entry that was recorded survives a crash of the machine. It costs a
	// disk flush per request.
	Sync bool
	// Now is the clock for anchors and for entries without a Time;
	// time.Now when nil.
	Now func() time.Time
}

// stdoutPath reports whether path names the Writer rather than a file.
func stdoutPath(path string) bool { return path == "-" || path == "stdout" }

// Log appends entries to an audit file as a hash chain (see the package
// comment). It is safe for concurrent use: lines are written whole, one
// write call each, in the order of their seq.
type Log struct {
	path string
	sync bool
	now  func() time.Time

	mu      sync.Mutex
	w       io.Writer // the file or Options.Writer; nil when not open
	f       *os.File  // the file; nil for a Writer
	openErr error     // why w is nil after a failed Reopen
	closed  bool
	seq     uint64           // seq of the last line written
	head    [hashHexLen]byte // hash of the last line written
	partial bool             // the last write was cut short mid-line
	lastErr error            // error of the last write; nil if it succeeded

	// bufs holds *[]byte line buffers, so that a Write allocates nothing
	// in the common case.
	bufs sync.Pool
}

// Open opens the audit log that opts describe and writes an anchor line.
// An existing file is continued: its last line is read and checked, and the
// chain goes on from its seq and hash. Open refuses a file that group or
// others may read or write, a file that is not a regular file, and a file
// whose last line is incomplete or not an audit line (the message says
// what to do).
func Open(opts Options) (*Log, error) {
	if opts.Path == "" {
		return nil, errors.New("audit: Options.Path is empty (give a file, or - for standard output)")
	}
	l := &Log{path: opts.Path, sync: opts.Sync, now: opts.Now, head: zeroHash}
	if l.now == nil {
		l.now = time.Now
	}
	if stdoutPath(opts.Path) {
		l.w = opts.Writer
		if l.w == nil {
			l.w = os.Stdout
		}
		l.path = "standard output"
		if err := l.writeAnchor("open", true); err != nil {
			return nil, err
		}
		return l, nil
	}
	f, size, err := openFile(opts.Path)
	if err != nil {
		return nil, err
	}
	genesis := size == 0
	if !genesis {
		li, err := readLast(f, size)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("audit log %s: %w", opts.Path, err)
		}
		l.seq, l.head = li.seq, li.hash
	}
	l.w, l.f = f, f
	if err := l.writeAnchor("open", genesis); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// openFile opens path for appending, creating it with mode 0600, and checks
// the opened file (not the path again, so there is no race): a regular file
// that only its owner may read or write. It returns the file's size.
func openFile(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("audit log: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("audit log %s is not a regular file (%s); give a file path, or - for standard output", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		f.Close()
		return nil, 0, fmt.Errorf("audit log %s has mode %04o: group or others may read or write it; run chmod 600 %s", path, perm, path)
	}
	return f, fi.Size(), nil
}

// readLast reads and checks the last line of f, whose size is size.
func readLast(f *os.File, size int64) (lineInfo, error) {
	n := min(size, MaxLineSize+1)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil {
		return lineInfo{}, fmt.Errorf("reading its last line: %w", err)
	}
	if buf[len(buf)-1] != '\n' {
		return lineInfo{}, errors.New("it ends with an incomplete line (a write was cut short): " +
			"move it aside, verify it with 'secretbroker audit verify', and start again with a new file")
	}
	buf = buf[:len(buf)-1]
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 && n < size {
		return lineInfo{}, fmt.Errorf("its last line is longer than %d bytes: it is not an audit log", MaxLineSize)
	}
	li, lerr := parseLine(buf[i+1:])
	if lerr != nil {
		return lineInfo{}, fmt.Errorf("its last line cannot be continued: %s; "+
			"move the file aside, verify it with 'secretbroker audit verify', and start again with a new file", lerr.reason)
	}
	return li, nil
}

// writeAnchor writes an anchor line with reason; with genesis, the anchor
// starts a new chain (seq 0, zero prev). l.mu is held, or l is not shared
// yet.
func (l *Log) writeAnchor(reason string, genesis bool) error {
	b := make([]byte, 0, 256)
	b = append(b, anchorPrefix...)
	b = append(b, `"reason":"`...)
	b = append(b, reason...)
	b = append(b, `","time":"`...)
	b = l.now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	seq := l.seq + 1
	if genesis {
		seq, l.head = 0, zeroHash
	}
	_, err := l.writeLine(b, seq)
	return err
}

// Write records e as one line. It returns an error, and records nothing,
// when the line cannot be written whole (the caller decides whether the
// request may go on). With Options.Sync the file is synced first.
func (l *Log) Write(e *Entry) error {
	if e == nil {
		return errors.New("audit: nil entry")
	}
	bp, _ := l.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
		*bp = make([]byte, 0, 1024)
	}
	defer func() {
		if cap(*bp) <= 64<<10 {
			l.bufs.Put(bp)
		}
	}()
	body, err := e.appendBody((*bp)[:0], l.now())
	if err != nil {
		return fmt.Errorf("audit: entry not written: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.w == nil {
		return fmt.Errorf("audit log %s is not open: %w", l.path, l.openErr)
	}
	line, err := l.writeLine(body, l.seq+1)
	*bp = line[:0]
	return err
}

// writeLine chains body as line seq and writes it with one write call. It
// returns the line, which reuses body's memory. l.mu is held.
func (l *Log) writeLine(body []byte, seq uint64) ([]byte, error) {
	line, hash := appendChain(body, seq, &l.head)
	if len(line) > MaxLineSize {
		return line, fmt.Errorf("audit: entry not written: its line would be %d bytes, more than %d", len(line), MaxLineSize)
	}
	out := line
	if l.partial {
		// The last write left part of a line: end it, so that this line
		// stands on its own (Verify reports the partial one).
		out = append([]byte{'\n'}, line...)
	}
	n, err := l.w.Write(out)
	if n < len(out) {
		if n > 0 {
			l.partial = true
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		l.lastErr = fmt.Errorf("audit log %s: %w", l.path, err)
		return line, l.lastErr
	}
	l.partial = false
	l.seq, l.head = seq, hash
	if err == nil && l.sync && l.f != nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.lastErr = fmt.Errorf("audit log %s: %w", l.path, err)
		return line, l.lastErr
	}
	l.lastErr = nil
	return line, nil
}

// Reopen closes the file and opens Path again, for log rotation: after
// logrotate moved the file, the daemon calls Reopen on SIGHUP and writes
// on in a new file whose first line, an anchor, chains to the last line of
// the moved one. When the file at Path has lines already, its last line
// must be the last line this Log wrote (a SIGHUP without rotation);
// otherwise Reopen refuses it. After a failed Reopen, Write fails until a
// Reopen succeeds. For standard output Reopen does nothing.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.f == nil && l.w != nil {
		return nil // standard output
	}
	var cerr error
	if l.f != nil {
		cerr = l.f.Close()
		l.f, l.w = nil, nil
	}
	f, size, err := openFile(l.path)
	if err == nil && size > 0 {
		var li lineInfo
		if li, err = readLast(f, size); err == nil && (li.seq != l.seq || li.hash != l.head) {
			err = fmt.Errorf("its last line (seq %d) is not the last line this log wrote (seq %d): another writer? Move it aside", li.seq, l.seq)
		}
		if err != nil {
			f.Close()
			err = fmt.Errorf("audit log %s: %w", l.path, err)
		}
	}
	if err != nil {
		l.openErr, l.lastErr = err, err
		return err
	}
	l.f, l.w, l.openErr = f, f, nil
	if err := l.writeAnchor("reopen", false); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("audit log %s: closing the old file: %w", l.path, cerr)
	}
	return nil
}

// Close closes the file (not a Writer). Later calls return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	l.w = nil
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("audit log %s: %w", l.path, err)
	}
	return nil
}

// Healthy returns the error of the last write, or why the log is not open;
// nil when the last write succeeded. Health checks report it.
func (l *Log) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.w == nil:
		return fmt.Errorf("audit log %s is not open: %w", l.path, l.openErr)
	}
	return l.lastErr
}

// Head returns the seq and hash of the last line written: a checkpoint to
// keep elsewhere and compare with what Verify reports, which shows lines
// cut from the end of the newest file.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, string(l.head[:])
}
