package auth

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// shortTempDir returns a temporary directory with a path short enough for
// a socket (t.TempDir's can pass the 104-byte limit).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbauth")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// acceptOne accepts one connection on ln and sends it on the channel.
func acceptOne(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func TestListenUnixModeAndPeerCred(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "sb.sock")
	var ln net.Listener
	var err error
	withUmask(t, 0, func() { ln, err = ListenUnix(path, 0o600) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file mode %v with umask 0, want a socket with 0600", fi.Mode())
	}
	if got := ln.Addr().String(); got != path {
		t.Errorf("Addr = %s, want %s", got, path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the socket only", len(entries))
	}

	accepted := acceptOne(t, ln)
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	if sc == nil {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	uid, gid, pid, err := PeerCred(sc)
	if err != nil {
		t.Fatal(err)
	}
	if uid != os.Getuid() || gid != os.Getgid() || pid != os.Getpid() {
		t.Errorf("PeerCred = uid %d gid %d pid %d, want %d %d %d", uid, gid, pid, os.Getuid(), os.Getgid(), os.Getpid())
	}

	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
}

func TestListenUnixGroupMode(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "sb.sock")
	var ln net.Listener
	var err error
	withUmask(t, 0o077, func() { ln, err = ListenUnix(path, 0o660) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v (%v) with umask 077, want 0660", fi.Mode(), err)
	}
}

func TestListenUnixLiveAndStale(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "sb.sock")
	first, err := ListenUnix(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// A second daemon on the live socket is refused, and leaves it alone.
	if _, err := ListenUnix(path, 0o600); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("second ListenUnix on a live socket = %v, want ErrSocketInUse", err)
	}
	if c, err := net.DialTimeout("unix", path, 10*time.Second); err != nil {
		t.Errorf("first daemon no longer reachable: %v", err)
	} else {
		c.Close()
	}
	first.Close()

	// A socket file left by a dead process is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket file not left behind: %v", err)
	}
	ln, err := ListenUnix(path, 0o600)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	accepted := acceptOne(t, ln)
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if sc := <-accepted; sc != nil {
		sc.Close()
	}

	// Close does not remove a socket that has replaced ours.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed another listener's socket: %v", err)
	}
}

func TestListenUnixRefusesOtherFile(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "sb.sock")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(path, 0o600); err == nil {
		t.Fatal("ListenUnix replaced a regular file")
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "keep me" {
		t.Errorf("regular file changed: %q, %v", data, err)
	}
	if _, err := ListenUnix(filepath.Join(shortTempDir(t), "x.sock"), 0o4600); err == nil {
		t.Error("a mode with setuid bit was accepted")
	}
}

func TestPeerCredRefusesTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := acceptOne(t, ln)
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	if _, _, _, err := PeerCred(sc); err == nil {
		t.Error("PeerCred gave credentials for a TCP connection")
	}
}

func TestUnixPrincipal(t *testing.T) {
	uid, gid := os.Getuid(), os.Getgid()
	p := UnixPrincipal(uid, gid)
	if p.ID != "unix:uid:"+strconv.Itoa(uid) || p.Method != MethodUnix {
		t.Errorf("principal %+v, want ID unix:uid:%d, method unix", p, uid)
	}
	if !slices.Contains(p.Aliases, "unix:gid:"+strconv.Itoa(gid)) {
		t.Errorf("aliases %v lack unix:gid:%d", p.Aliases, gid)
	}
	if u, err := user.Current(); err == nil && !slices.Contains(p.Aliases, "unix:user:"+u.Username) {
		t.Errorf("aliases %v lack unix:user:%s", p.Aliases, u.Username)
	}
	// A uid with no name still gets its uid and gid.
	p = UnixPrincipal(2147483600, 2147483601)
	if p.ID != "unix:uid:2147483600" || !slices.Equal(p.Aliases, []string{"unix:gid:2147483601"}) {
		t.Errorf("unnamed uid: %+v", p)
	}
}
