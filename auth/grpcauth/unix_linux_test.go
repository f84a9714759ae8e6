package grpcauth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/secretbroker/secretbroker/auth"
)

// shortTempDir returns a directory whose path is short enough for a unix
// socket.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbgrpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestTCPAndUnix serves one set of services on a TLS TCP listener and a
// unix socket, with one grpc.Server per listener: the daemon's pattern.
func TestTCPAndUnix(t *testing.T) {
	uid := os.Getuid()
	a, err := New(Options{Tokens: newTokens(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := newMTLSServer(t, a) // TCP with mTLS, services m.svc

	path := filepath.Join(shortTempDir(t), "sb.sock")
	uln, err := auth.ListenUnix(path, 0o600)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	serve(t, a, UnixPeerCredentials(), m.svc, uln) // the same services
	uc := dial(t, "unix://"+path, insecure.NewCredentials())

	wantID := "unix:uid:" + strconv.Itoa(uid)
	for _, meth := range []string{securedCheck, securedWatch} {
		hdr, err := who(t, uc, meth)
		wantPrincipal(t, meth+" on the unix socket", hdr, err, wantID, auth.MethodUnix)
		if al := hdr.Get("x-aliases"); !slices.Contains(al, "unix:gid:"+strconv.Itoa(os.Getgid())) {
			t.Errorf("%s: aliases %v lack unix:gid:%d", meth, al, os.Getgid())
		}
	}
	// A token is an identity of its own; an unknown one does not fall
	// back to the peer credentials.
	hdr, err := who(t, uc, securedCheck, "authorization", "Bearer "+botToken)
	wantPrincipal(t, "unix socket with a token", hdr, err, "bot-pool-a", auth.MethodToken)
	_, err = who(t, uc, securedCheck, "authorization", "Bearer "+unknownToken)
	wantCode(t, "unix socket with an unknown token", err, codes.Unauthenticated, "token not recognised")

	// A client may use the peer credentials too, and learns the server's
	// uid; tokens may be sent as per-RPC credentials requiring security.
	uc2 := dial(t, "unix://"+path, UnixPeerCredentials())
	hdr, err = who(t, uc2, securedCheck)
	wantPrincipal(t, "client with unix credentials", hdr, err, wantID, auth.MethodUnix)

	spiffe := m.uriCA.issue(t, "spiffe://corp.example/rpa/bot-pool-b", "b", "b")
	hdr, err = who(t, m.dial(t, &spiffe), securedCheck)
	wantPrincipal(t, "TCP beside unix", hdr, err, "spiffe://corp.example/rpa/bot-pool-b", auth.MethodMTLS)
	if n := m.svc.secure.calls.Load(); n != 5 {
		t.Errorf("shared service ran %d times, want 5", n)
	}
}
