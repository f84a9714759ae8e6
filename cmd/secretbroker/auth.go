package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/local"

	"github.com/secretbroker/secretbroker/internal/datadir"
)

const (
	// tokenEnv holds a bearer token.
	tokenEnv = "SECRETBROKER_TOKEN"
	// tokenFileEnv names a file that holds a bearer token.
	tokenFileEnv = "SECRETBROKER_TOKEN_FILE"
	// adminTokenFile is the daemon's local admin token in its data
	// directory.
	adminTokenFile = "admin.token"
	// authorizationKey is the gRPC metadata key of the bearer token.
	authorizationKey = "authorization"
	// maxTokenFile is the largest token file read.
	maxTokenFile = 64 << 10
	// expects says what the daemon accepts, for authentication errors.
	expects = "a token: -token-file or " + tokenEnv + "; or a client certificate: -cert/-key"
)

// token is a bearer token and where it came from.
type token struct {
	value string
	// from says where it came from, for messages: "token from FILE".
	from string
}

// findToken returns the token to send, nil when there is none, looking in
// this order: -token-file; -data-dir's admin.token; $SECRETBROKER_TOKEN;
// the file $SECRETBROKER_TOKEN_FILE; the admin.token of the daemon's
// default data directory, if it exists and isLocal (the daemon is on this
// machine: the local admin token, which nobody asked for by name, never
// goes elsewhere). Flags come before the environment, as -addr does before
// SECRETBROKER_ADDR.
func (a *app) findToken(isLocal bool) (*token, error) {
	if f := a.g.tokenFile; f != "" {
		return readTokenFile(f, "-token-file")
	}
	if d := a.g.dataDir; d != "" {
		t, err := readTokenFile(filepath.Join(d, adminTokenFile), "-data-dir")
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("-data-dir %s: there is no %s in it (is it the daemon's data directory?)", quote(d), adminTokenFile)
		}
		return t, err
	}
	if v := a.env.getenv(tokenEnv); v != "" {
		v = strings.TrimSpace(v)
		if err := checkToken(v); err != nil {
			return nil, fmt.Errorf("%s: %w", tokenEnv, err)
		}
		return &token{value: v, from: "token from " + tokenEnv}, nil
	}
	if f := a.env.getenv(tokenFileEnv); f != "" {
		return readTokenFile(f, tokenFileEnv)
	}
	if !isLocal {
		return nil, nil
	}
	dir, err := defaultDataDir(a.env)
	if err != nil {
		return nil, nil // no home directory: no default token
	}
	t, err := readTokenFile(filepath.Join(dir, adminTokenFile), "")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return t, err
}

// defaultDataDir returns the daemon's default data directory, by the
// daemon's own rule (package datadir), with e's lookups.
func defaultDataDir(e env) (string, error) {
	return datadir.Default(datadir.Lookups{Getenv: e.getenv, HomeDir: e.homeDir, ConfigDir: e.configDir})
}

// readTokenFile reads the token in the file at path, named by via (a flag
// or variable, "" for the default admin token). It refuses a file that
// group or others may read or write, checked on the opened file. Its errors
// never show the token.
func readTokenFile(path, via string) (*token, error) {
	from := "token from " + path
	if via != "" {
		from += " (" + via + ")"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("token file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("token file %s has mode %04o: group or others may read it, so the token may be known to others; run chmod 600 %s (and replace the token if it leaked)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("token file %s is larger than %d bytes: it holds more than a token", path, maxTokenFile)
	}
	v := strings.TrimSpace(string(b))
	if err := checkToken(v); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return &token{value: v, from: from}, nil
}

// checkToken checks that v, trimmed, can be sent as a bearer token. Its
// errors never show v.
func checkToken(v string) error {
	switch {
	case v == "":
		return errors.New("the token is empty")
	case strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }):
		return errors.New("the token holds spaces, line breaks or characters other than printable ASCII: it must hold one token only")
	}
	return nil
}

// localTarget reports whether addr, the gRPC target of -addr, is a unix
// socket or a loopback host: a daemon on this machine.
func localTarget(addr string) bool {
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "unix-abstract:") {
		return true
	}
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		addr = strings.TrimPrefix(addr, scheme)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer sends a token as "authorization: Bearer <token>" on every call.
type bearer struct {
	token string
	// plaintextOK is set only for a daemon on this machine (loopback or a
	// unix socket), reached through local.NewCredentials.
	plaintextOK bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if !b.plaintextOK {
		ri, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, fmt.Errorf("refusing to send the token without TLS: %w", err)
		}
	}
	return map[string]string{authorizationKey: "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. It
// is false only for a daemon on this machine. Loopback traffic never
// leaves the host and a unix socket is guarded by its file permissions, so
// a token sent there in plaintext reaches only local processes; that is
// how the daemon's local admin token is meant to be used. The connection
// then uses local.NewCredentials, which checks at every handshake that the
// peer really is 127.0.0.0/8, ::1 or a unix socket, so a name such as
// localhost that resolved elsewhere still gets no token. Anywhere else the
// token would cross a network in clear text: true makes grpc-go refuse to
// send it without TLS (and the CLI refuses first, with a clearer message).
func (b bearer) RequireTransportSecurity() bool { return !b.plaintextOK }

// conn is how the CLI reaches the daemon.
type conn struct {
	opts []grpc.DialOption
	// sent says which credentials the calls carry, for messages: "token
	// from FILE", "client certificate CN=...", "no credential".
	sent string
	// tls is set when the connection uses TLS (-ca).
	tls bool
}

// dialOptions works out the transport and credentials for -addr: TLS with
// -ca, else plaintext to a local daemon (local.NewCredentials), else
// plaintext without any credential; and the bearer token, if any, which is
// never sent in plaintext off this machine.
func (a *app) dialOptions() (*conn, error) {
	isLocal := localTarget(a.g.addr)
	tok, err := a.findToken(isLocal)
	if err != nil {
		return nil, err
	}
	c := &conn{}
	var sent []string
	if tok != nil {
		sent = append(sent, tok.from)
	}
	switch {
	case a.g.ca != "":
		conf, cert, err := a.tlsConfig()
		if err != nil {
			return nil, err
		}
		if cert != "" {
			sent = append(sent, cert)
		}
		c.tls = true
		c.opts = append(c.opts, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	case tok != nil && !isLocal:
		return nil, fmt.Errorf("refusing to send the %s in plaintext to %s, which is not a loopback address or unix socket: give -ca to use TLS", tok.from, a.g.addr)
	case isLocal:
		c.opts = append(c.opts, grpc.WithTransportCredentials(local.NewCredentials()))
	default:
		c.opts = append(c.opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if tok != nil {
		c.opts = append(c.opts, grpc.WithPerRPCCredentials(bearer{token: tok.value, plaintextOK: isLocal}))
	}
	if a.env.dial != nil {
		c.opts = append(c.opts, grpc.WithContextDialer(a.env.dial))
	}
	c.sent = "no credential"
	if len(sent) > 0 {
		c.sent = strings.Join(sent, " and ")
	}
	return c, nil
}

// tlsConfig returns the TLS configuration of -ca, -cert, -key and
// -server-name, and a description of the client certificate ("" without
// one).
func (a *app) tlsConfig() (*tls.Config, string, error) {
	pem, err := os.ReadFile(a.g.ca)
	if err != nil {
		return nil, "", fmt.Errorf("-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, "", fmt.Errorf("-ca %s: no PEM certificate in it", quote(a.g.ca))
	}
	conf := &tls.Config{RootCAs: pool, ServerName: a.g.serverName, MinVersion: tls.VersionTLS12}
	if a.g.cert == "" {
		return conf, "", nil
	}
	pair, err := tls.LoadX509KeyPair(a.g.cert, a.g.key)
	if err != nil {
		return nil, "", fmt.Errorf("-cert %s -key %s: %w", quote(a.g.cert), quote(a.g.key), err)
	}
	conf.Certificates = []tls.Certificate{pair}
	return conf, describeCert(pair.Leaf, a.g.cert), nil
}

// describeCert returns "client certificate CN=... (URI ...) from FILE".
func describeCert(c *x509.Certificate, file string) string {
	d := "client certificate"
	if c == nil {
		return d + " from " + file
	}
	if cn := c.Subject.CommonName; cn != "" {
		d += " CN=" + plain(cn)
	}
	for _, u := range c.URIs {
		d += " URI=" + plain(u.String())
	}
	if c.Subject.CommonName == "" && len(c.URIs) == 0 && len(c.DNSNames) > 0 {
		d += " DNS=" + plain(c.DNSNames[0])
	}
	return d + " from " + file
}

// checkConnFlags checks that the connection flags go together.
func (g *globals) checkConnFlags(cmd string) error {
	switch {
	case (g.cert == "") != (g.key == ""):
		return usagef(cmd, "-cert and -key go together: give both, or neither")
	case g.ca == "" && g.cert != "":
		return usagef(cmd, "-cert needs -ca, the CA that verifies the daemon's certificate")
	case g.ca == "" && g.serverName != "":
		return usagef(cmd, "-server-name needs -ca")
	case g.tokenFile != "" && g.dataDir != "":
		return usagef(cmd, "-token-file and -data-dir both name a token: give one")
	}
	return nil
}
