//go:build unix

package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// maxSocketPath is the longest socket path every unix accepts (sun_path is
// 104 bytes on the BSDs and macOS, 108 on Linux, both with the final NUL).
const maxSocketPath = 103

// ListenUnix listens on a unix stream socket at path whose file has the
// given mode (0600: only this user may connect; 0660: this user's group
// too) from the moment it can be reached.
//
// The socket is bound inside a fresh directory of mode 0700 created next
// to path, given its mode there, and renamed into place: no other user can
// resolve it before it has its final mode, whatever the umask. (Setting the
// umask around bind would also work, but the umask is per process: another
// goroutine creating a file at that moment would get the wrong mode.)
//
// A socket file left at path by a daemon that died (connecting to it is
// refused) is replaced; one on which a process answers is not, and the
// error wraps ErrSocketInUse; any other file at path is refused. Closing
// the listener removes the socket file, unless another socket has
// replaced it since.
func ListenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("unix socket %s: mode %v has bits other than permissions", path, mode)
	}
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("unix socket %s: path is %d bytes, longer than the %d a socket path may have; choose a shorter one", path, len(path), maxSocketPath)
	}
	if err := checkStaleSocket(path); err != nil {
		return nil, err
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".s")
	if err != nil {
		return nil, fmt.Errorf("unix socket %s: %w (the directory must exist and be writable by this user)", path, err)
	}
	defer os.RemoveAll(tmpDir)
	// MkdirTemp asks for 0700 and the umask can only take bits away; set it
	// again so that a umask removing the owner's bits does not lock us out.
	if err := os.Chmod(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	tmpSock := filepath.Join(tmpDir, "s")
	if len(tmpSock) > maxSocketPath {
		return nil, fmt.Errorf("unix socket %s: its directory's path is too long for a socket path; choose a shorter one", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	// The file moves: unlink on Close is done by unixListener.Close.
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		ln.Close()
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	if err := os.Chmod(tmpSock, mode); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: ln, addr: &net.UnixAddr{Name: path, Net: "unix"}, file: fi}, nil
}

// checkStaleSocket returns nil when path does not exist or is a socket
// nobody answers on.
func checkStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("unix socket %s: a file that is not a socket (%v) is in the way; remove it or choose another path", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("unix socket %s: %w (is the daemon already running? stop it, or choose another socket path)", path, ErrSocketInUse)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil // left by a process that is gone: replaced by the rename
	}
	return fmt.Errorf("unix socket %s: cannot tell whether it is in use: %w (remove it if no daemon is running)", path, err)
}

// unixListener reports the socket's final path and removes the file it
// created when closed.
type unixListener struct {
	*net.UnixListener
	addr *net.UnixAddr
	file fs.FileInfo
	once sync.Once
}

func (l *unixListener) Addr() net.Addr { return l.addr }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.addr.Name); serr == nil && os.SameFile(fi, l.file) {
			os.Remove(l.addr.Name)
		}
	})
	return err
}
