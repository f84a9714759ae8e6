package grpcauth

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/secretbroker/secretbroker/auth"
)

// UnixPeerAuthType is the AuthType of UnixPeerInfo.
const UnixPeerAuthType = "unix-peer"

// UnixPeerInfo is the credentials.AuthInfo of a connection accepted with
// UnixPeerCredentials: who the kernel says the process at the other end
// is (SO_PEERCRED, recorded when it connected).
type UnixPeerInfo struct {
	credentials.CommonAuthInfo
	// UID and GID are the peer's effective user and group ids.
	UID, GID int
	// PID is the peer's process id when it connected, for logs only.
	PID int
	// Principal is auth.UnixPrincipal(UID, GID), looked up once per
	// connection.
	Principal auth.Principal
}

// AuthType returns UnixPeerAuthType.
func (UnixPeerInfo) AuthType() string { return UnixPeerAuthType }

// UnixPeerCredentials returns transport credentials for a gRPC server
// listening on a unix socket (auth.ListenUnix): the handshake reads the
// peer's credentials and adds no encryption (the kernel carries the bytes
// between two local processes). Each connection's peer.AuthInfo is a
// UnixPeerInfo, which the Authenticator turns into a unix:uid:N Principal
// when no token is sent.
//
// Use it only on unix listeners: on any other connection the handshake
// fails, so a TCP listener given these credentials by mistake serves
// nobody rather than everybody. A client dialing the socket may use them
// too (its AuthInfo then describes the server process), or
// insecure.NewCredentials. They report the security level
// PrivacyAndIntegrity, as grpc's own local credentials do for unix
// sockets, so per-RPC credentials (bearer tokens) may be sent over them.
func UnixPeerCredentials() credentials.TransportCredentials { return unixPeerCreds{} }

type unixPeerCreds struct{}

func (unixPeerCreds) handshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uid, gid, pid, err := auth.PeerCred(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("grpcauth: unix peer credentials: %w", err)
	}
	return conn, UnixPeerInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		UID:            uid, GID: gid, PID: pid,
		Principal: auth.UnixPrincipal(uid, gid),
	}, nil
}

func (c unixPeerCreds) ClientHandshake(_ context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.handshake(conn)
}

func (c unixPeerCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.handshake(conn)
}

func (unixPeerCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: UnixPeerAuthType}
}

func (c unixPeerCreds) Clone() credentials.TransportCredentials { return c }

// OverrideServerName is deprecated in grpc and does nothing here.
func (unixPeerCreds) OverrideServerName(string) error { return nil }
