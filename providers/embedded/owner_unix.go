//go:build unix

package embedded

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/secretbroker/secretbroker/providers"
)

// checkOwner refuses a file that belongs to another user than the
// daemon's: that user could replace the store or read the key.
func checkOwner(info fs.FileInfo, path, field, what string) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int64(st.Uid) != int64(uid) {
		return &providers.ConfigError{Field: field,
			Problem: fmt.Sprintf("%s %s belongs to user id %d, not to the user secretbroker runs as (id %d), so secretbroker refuses to use it", what, path, st.Uid, uid),
			Fix:     fmt.Sprintf("chown %d %s, or run secretbroker as the file's owner", uid, path)}
	}
	return nil
}
