//go:build !linux

package auth

import (
	"errors"
	"fmt"
	"net"
	"runtime"
)

// PeerCred is not supported on this system: it returns an error wrapping
// errors.ErrUnsupported. (SO_PEERCRED is Linux's; the BSDs' LOCAL_PEERCRED
// and getpeereid could be added here.)
func PeerCred(conn net.Conn) (uid, gid, pid int, err error) {
	return -1, -1, -1, fmt.Errorf("peer credentials: unix peer credentials are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
