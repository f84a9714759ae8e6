//go:build !unix

package auth

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
)

// ListenUnix is not supported on this system: it returns an error wrapping
// errors.ErrUnsupported.
func ListenUnix(path string, mode os.FileMode) (net.Listener, error) {
	return nil, fmt.Errorf("unix socket %s: restricted unix sockets are not supported on %s: %w", path, runtime.GOOS, errors.ErrUnsupported)
}
