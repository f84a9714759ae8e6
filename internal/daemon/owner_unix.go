//go:build unix

package daemon

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a data directory owned by another user.
func checkOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("data directory %s is owned by uid %d, not by the daemon's user (uid %d): chown it, or pass -data-dir", dir, st.Uid, uid)
	}
	return nil
}
