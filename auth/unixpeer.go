package auth

import (
	"errors"
	"os/user"
	"strconv"
)

// ErrSocketInUse is returned (wrapped) by ListenUnix when another process
// answers on the socket path: most likely a daemon already running.
var ErrSocketInUse = errors.New("another process is listening on the socket")

// UnixPrincipal returns the Principal of a peer on a unix socket with the
// given uid and gid (from PeerCred): ID "unix:uid:N", with the aliases
// "unix:user:NAME" (when the uid has a name in the user database; looked
// up best effort) and "unix:gid:N".
func UnixPrincipal(uid, gid int) Principal {
	p := Principal{ID: "unix:uid:" + strconv.Itoa(uid), Method: MethodUnix}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		p.Aliases = append(p.Aliases, "unix:user:"+u.Username)
	}
	p.Aliases = append(p.Aliases, "unix:gid:"+strconv.Itoa(gid))
	return p
}
