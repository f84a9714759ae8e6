package auth

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// PeerCred returns the uid, gid and pid of the process at the other end of
// a unix socket connection, as the kernel recorded them when it connected
// (SO_PEERCRED). The pid is for logs only: it may have been reused since.
// conn must be a unix stream connection (*net.UnixConn or a type with the
// same LocalAddr and SyscallConn); anything else is an error, never a
// guess.
func PeerCred(conn net.Conn) (uid, gid, pid int, err error) {
	if _, ok := conn.LocalAddr().(*net.UnixAddr); !ok {
		return -1, -1, -1, fmt.Errorf("peer credentials: %T is not a unix socket connection", conn)
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, -1, -1, fmt.Errorf("peer credentials: %T does not expose its socket", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, -1, -1, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, -1, -1, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return -1, -1, -1, fmt.Errorf("peer credentials: SO_PEERCRED: %w", cerr)
	}
	if cred == nil {
		return -1, -1, -1, errors.New("peer credentials: SO_PEERCRED returned nothing")
	}
	return int(cred.Uid), int(cred.Gid), int(cred.Pid), nil
}
