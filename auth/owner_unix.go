//go:build unix

package auth

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate refuses a file that group or others may read or write, or
// that another uid than this process's owns.
func checkPrivate(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("admin token %s has mode %04o, readable or writable by group or others; run chmod 600 %s, or remove it and restart to create a new token", path, perm, path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("admin token %s is owned by uid %d, not by this process's uid %d; run the daemon as its owner, or remove the file and restart to create a new token", path, st.Uid, uid)
	}
	return nil
}
