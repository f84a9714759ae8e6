package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/secretbroker/secretbroker/internal/testpki"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// authEnv is testEnv with the environment variables vars and the home
// directory home ("" for none).
func authEnv(vars map[string]string, home string) env {
	e := testEnv()
	e.getenv = func(k string) string { return vars[k] }
	if home != "" {
		e.homeDir = func() (string, error) { return home, nil }
	}
	return e
}

// writeToken writes content to dir/name with mode and returns its path.
func writeToken(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// authHeader returns the authorization metadata of the last request.
func authHeader(t *testing.T, f *fakeBroker) []string {
	t.Helper()
	_, md := f.last(t)
	return md.Get(authorizationKey)
}

func TestTokenPrecedence(t *testing.T) {
	dir := t.TempDir()
	flagFile := writeToken(t, dir, "flag.token", "  tok-flag\n", 0o600)
	dataDir := filepath.Join(dir, "data")
	writeToken(t, dataDir, adminTokenFile, "tok-datadir\n", 0o600)
	envFile := writeToken(t, dir, "env.token", "tok-envfile\r\n", 0o600)
	xdg := filepath.Join(dir, "xdg")
	writeToken(t, filepath.Join(xdg, "secretbroker"), adminTokenFile, "tok-xdg\n", 0o600)
	home := filepath.Join(dir, "home")
	writeToken(t, filepath.Join(home, ".local", "state", "secretbroker"), adminTokenFile, "tok-home\n", 0o600)

	all := map[string]string{tokenEnv: "tok-env\n", tokenFileEnv: envFile, "XDG_STATE_HOME": xdg}
	without := func(keys ...string) map[string]string {
		m := make(map[string]string)
		for k, v := range all {
			if !slices.Contains(keys, k) {
				m[k] = v
			}
		}
		return m
	}
	f := newFake()
	addr := startFake(t, f)
	for _, c := range []struct {
		name  string
		args  []string
		vars  map[string]string
		home  string
		want  []string
		linux bool // the home fallback is Linux's
	}{
		{"-token-file first", []string{"-token-file", flagFile}, all, home, []string{"Bearer tok-flag"}, false},
		{"then -data-dir", []string{"-data-dir", dataDir}, all, home, []string{"Bearer tok-datadir"}, false},
		{"then SECRETBROKER_TOKEN", nil, all, home, []string{"Bearer tok-env"}, false},
		{"then SECRETBROKER_TOKEN_FILE", nil, without(tokenEnv), home, []string{"Bearer tok-envfile"}, false},
		{"then XDG_STATE_HOME's admin token", nil, without(tokenEnv, tokenFileEnv), home, []string{"Bearer tok-xdg"}, false},
		{"then the home's admin token", nil, without(tokenEnv, tokenFileEnv, "XDG_STATE_HOME"), home, []string{"Bearer tok-home"}, true},
		{"else none", nil, without(tokenEnv, tokenFileEnv, "XDG_STATE_HOME"), "", nil, false},
		{"none in an empty data dir", nil, map[string]string{"XDG_STATE_HOME": t.TempDir()}, "", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.linux && runtime.GOOS != "linux" {
				t.Skip("Linux's default data directory")
			}
			args := append(append([]string{"-addr", addr}, c.args...), "lockers")
			r := runCLIEnv(t, authEnv(c.vars, c.home), "", args...)
			if r.code != 0 {
				t.Fatalf("code %d, stderr %q", r.code, r.stderr)
			}
			if got := authHeader(t, f); !slices.Equal(got, c.want) {
				t.Errorf("authorization = %q, want %q", got, c.want)
			}
		})
	}

	// Flags after the command work too.
	r := runCLIEnv(t, authEnv(all, home), "", "-addr", addr, "lockers", "-token-file", flagFile)
	if got := authHeader(t, f); r.code != 0 || !slices.Equal(got, []string{"Bearer tok-flag"}) {
		t.Errorf("-token-file after the command: code %d, authorization %q", r.code, got)
	}
}

func TestTokenFileRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	const tok = "tok-do-not-print"
	dir := t.TempDir()
	open := writeToken(t, dir, "open.token", tok+"\n", 0o644)
	groupWritable := writeToken(t, dir, "gw.token", tok+"\n", 0o620)
	empty := writeToken(t, dir, "empty.token", " \n", 0o600)
	twoWords := writeToken(t, dir, "two.token", tok+" "+tok+"\n", 0o600)
	xdg := filepath.Join(dir, "xdg")
	defaultOpen := writeToken(t, filepath.Join(xdg, "secretbroker"), adminTokenFile, tok, 0o640)
	f := newFake()
	addr := startFake(t, f)
	for _, c := range []struct {
		name string
		args []string
		vars map[string]string
		want []string
	}{
		{"-token-file 0644", []string{"-token-file", open}, nil, []string{"token file " + open + " has mode 0644", "chmod 600 " + open}},
		{"-token-file 0620", []string{"-token-file", groupWritable}, nil, []string{"has mode 0620", "chmod 600 " + groupWritable}},
		{"SECRETBROKER_TOKEN_FILE 0644", nil, map[string]string{tokenFileEnv: open}, []string{"has mode 0644", "chmod 600 " + open}},
		{"default admin token 0640", nil, map[string]string{"XDG_STATE_HOME": xdg}, []string{"has mode 0640", "chmod 600 " + defaultOpen}},
		{"empty", []string{"-token-file", empty}, nil, []string{"token file " + empty + ": the token is empty"}},
		{"two words", []string{"-token-file", twoWords}, nil, []string{"must hold one token only"}},
		{"missing", []string{"-token-file", filepath.Join(dir, "missing")}, nil, []string{"no such file"}},
		{"bad SECRETBROKER_TOKEN", nil, map[string]string{tokenEnv: tok + "\n" + tok}, []string{tokenEnv + ": the token holds"}},
		{"-data-dir without a token", []string{"-data-dir", t.TempDir()}, nil, []string{"there is no admin.token in it"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLIEnv(t, authEnv(c.vars, ""), "", append(append([]string{"-addr", addr}, c.args...), "lockers")...)
			wantOneErrorLine(t, r, 1)
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
			if strings.Contains(r.stderr, tok) {
				t.Errorf("stderr shows the token: %q", r.stderr)
			}
		})
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d requests sent with a refused token", n)
	}
}

func TestConnFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-token", "s3cr3t-value", "lockers"}, // never on the command line
		{"lockers", "-token", "s3cr3t-value"},
		{"-cert", "c.pem", "lockers"},
		{"-key", "k.pem", "lockers"},
		{"-cert", "c.pem", "-key", "k.pem", "lockers"},
		{"-server-name", "broker", "lockers"},
		{"-token-file", "t", "-data-dir", "d", "lockers"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, "", args...)
			wantOneErrorLine(t, r, 2)
			if strings.Contains(r.stderr, "s3cr3t-value") {
				t.Errorf("stderr shows the token: %q", r.stderr)
			}
		})
	}
}

// redirect returns a dial function that connects every address to the
// loopback address to, and records the addresses asked for.
func redirect(to string) (dial func(context.Context, string) (net.Conn, error), dialed func() []string) {
	var mu sync.Mutex
	var addrs []string
	dial = func(ctx context.Context, addr string) (net.Conn, error) {
		mu.Lock()
		addrs = append(addrs, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, "tcp", to)
	}
	dialed = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(addrs)
	}
	return dial, dialed
}

func TestNoTokenInPlaintextOffHost(t *testing.T) {
	f := newFake()
	fakeAddr := startFake(t, f)
	dial, dialed := redirect(fakeAddr)
	const remote = "passthrough:///broker.test:7787"

	// An explicit token: refused before anything is dialed.
	e := authEnv(map[string]string{tokenEnv: "tok-env"}, "")
	e.dial = dial
	r := runCLIEnv(t, e, "", "-addr", remote, "lockers")
	wantOneErrorLine(t, r, 1)
	if want := "secretbroker: refusing to send the token from SECRETBROKER_TOKEN in plaintext to passthrough:///broker.test:7787, " +
		"which is not a loopback address or unix socket: give -ca to use TLS\n"; r.stderr != want {
		t.Errorf("stderr %q\nwant %q", r.stderr, want)
	}
	if d := dialed(); len(d) != 0 || f.count() != 0 {
		t.Errorf("dialed %q, %d requests", d, f.count())
	}

	// The local admin token is not sent off this machine: the call goes
	// without it.
	xdg := t.TempDir()
	writeToken(t, filepath.Join(xdg, "secretbroker"), adminTokenFile, "tok-admin\n", 0o600)
	e = authEnv(map[string]string{"XDG_STATE_HOME": xdg}, "")
	e.dial = dial
	r = runCLIEnv(t, e, "", "-addr", remote, "lockers")
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	if got := authHeader(t, f); got != nil {
		t.Errorf("authorization %q sent off-host in plaintext", got)
	}
	if d := dialed(); !slices.Equal(d, []string{"broker.test:7787"}) {
		t.Errorf("dialed %q", d)
	}

	// It is not even read: a bad mode does not stop a call elsewhere.
	if err := os.Chmod(filepath.Join(xdg, "secretbroker", adminTokenFile), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLIEnv(t, e, "", "-addr", remote, "lockers")
	if r.code != 0 || authHeader(t, f) != nil {
		t.Errorf("code %d, stderr %q, authorization %q", r.code, r.stderr, authHeader(t, f))
	}
}

func TestBearerTransportSecurity(t *testing.T) {
	if (bearer{token: "t", plaintextOK: true}).RequireTransportSecurity() {
		t.Error("a local bearer requires TLS")
	}
	if !(bearer{token: "t"}).RequireTransportSecurity() {
		t.Error("an off-host bearer does not require TLS")
	}
	// grpc-go itself then refuses plaintext: the backstop behind the CLI's
	// own check.
	_, err := grpc.NewClient("passthrough:///broker.test:7787",
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer{token: "t"}))
	if err == nil {
		t.Error("grpc.NewClient accepted a TLS-only token without TLS")
	}
}

func TestLocalTarget(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7787":                  true,
		"127.1.2.3:7787":                  true,
		"[::1]:7787":                      true,
		"localhost:7787":                  true,
		"LOCALHOST:7787":                  true,
		"dns:///localhost:7787":           true,
		"passthrough:///127.0.0.1:7787":   true,
		"unix:/run/secretbroker.sock":     true,
		"unix:///run/secretbroker.sock":   true,
		"unix-abstract:secretbroker":      true,
		"192.0.2.1:7787":                  false,
		"[2001:db8::1]:7787":              false,
		"broker.example.com:7787":         false,
		"localhost.example.com:7787":      false,
		"dns://192.0.2.53/localhost:7787": false,
		"0.0.0.0:7787":                    false,
	} {
		if got := localTarget(addr); got != want {
			t.Errorf("localTarget(%q) = %v, want %v", addr, got, want)
		}
	}
}

// tlsFake serves f with TLS on 127.0.0.1 with a server certificate for
// localhost from a new CA, verifying client certificates from that CA when
// given. It returns the address, the CA file and a client certificate
// (CN bot-runner) and key files.
func tlsFake(t *testing.T, f *fakeBroker) (addr, caFile, certFile, keyFile string) {
	t.Helper()
	ca := testpki.Must(testpki.NewCA("secretbroker test CA"))
	srv := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "secretbrokerd", Server: true}))
	client := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "bot-runner", Client: true}))
	dir := t.TempDir()
	var err error
	if caFile, err = testpki.WritePEM(dir, "ca.pem", ca.CertPEM()); err != nil {
		t.Fatal(err)
	}
	if certFile, keyFile, err = client.WriteFiles(dir, "bot"); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven,
		MinVersion: tls.VersionTLS12}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)), grpc.UnaryInterceptor(f.intercept))
	pb.RegisterSecretBrokerServer(g, f)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String(), caFile, certFile, keyFile
}

func TestMutualTLS(t *testing.T) {
	f := newFake()
	addr, caFile, certFile, keyFile := tlsFake(t, f)
	tokFile := writeToken(t, t.TempDir(), "bot.token", "tok-bot\n", 0o600)

	// A client certificate, and a token beside it.
	r := runCLI(t, "", "-addr", addr, "-ca", caFile, "-cert", certFile, "-key", keyFile, "-token-file", tokFile, "lockers")
	if r.code != 0 || !strings.Contains(r.stdout, "finance") {
		t.Fatalf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if cn := f.lastPeer(t); cn != "bot-runner" {
		t.Errorf("the server saw client certificate %q, want bot-runner", cn)
	}
	if got := authHeader(t, f); !slices.Equal(got, []string{"Bearer tok-bot"}) {
		t.Errorf("authorization %q", got)
	}

	// TLS without a client certificate.
	r = runCLI(t, "", "-addr", addr, "-ca", caFile, "lockers")
	if r.code != 0 || f.lastPeer(t) != "" || authHeader(t, f) != nil {
		t.Errorf("TLS alone: code %d, stderr %q, peer %q", r.code, r.stderr, f.lastPeer(t))
	}

	// Off-host over TLS, the token is sent; -server-name names the
	// certificate's host.
	dial, dialed := redirect(addr)
	e := authEnv(map[string]string{tokenEnv: "tok-env"}, "")
	e.dial = dial
	r = runCLIEnv(t, e, "", "-addr", "passthrough:///broker.test:7787", "-ca", caFile, "-server-name", "localhost", "lockers")
	if r.code != 0 {
		t.Fatalf("off-host TLS: code %d, stderr %q", r.code, r.stderr)
	}
	if got := authHeader(t, f); !slices.Equal(got, []string{"Bearer tok-env"}) || len(dialed()) == 0 {
		t.Errorf("off-host TLS: authorization %q, dialed %q", got, dialed())
	}

	// Without -server-name the certificate (for localhost) does not match:
	// nothing is sent, and the hint is about TLS.
	n := f.count()
	r = runCLIEnv(t, e, "", "-addr", "passthrough:///broker.test:7787", "-ca", caFile, "lockers")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "secretbroker: Unavailable: ") ||
		!strings.Contains(lines[1], "with TLS? Check -ca and -server-name") || f.count() != n {
		t.Errorf("wrong server name: code %d, stderr %q", r.code, r.stderr)
	}

	// A CA that did not sign the daemon's certificate.
	other := testpki.Must(testpki.NewCA("another CA"))
	otherFile, err := testpki.WritePEM(t.TempDir(), "other.pem", other.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "-addr", addr, "-ca", otherFile, "lockers")
	if r.code != 1 || !strings.Contains(r.stderr, "Unavailable") || f.count() != n {
		t.Errorf("wrong CA: code %d, stderr %q", r.code, r.stderr)
	}

	// Bad files are one-line errors.
	for _, args := range [][]string{
		{"-ca", certFile + ".missing"},
		{"-ca", tokFile},
		{"-ca", caFile, "-cert", certFile, "-key", caFile},
	} {
		r := runCLI(t, "", append(append([]string{"-addr", addr}, args...), "lockers")...)
		wantOneErrorLine(t, r, 1)
	}
}

func TestUnauthenticatedSaysWhichCredential(t *testing.T) {
	const expect = "; the daemon expects a token: -token-file or SECRETBROKER_TOKEN; or a client certificate: -cert/-key)\n"
	f := newFake()
	f.err = status.Error(codes.Unauthenticated, "no valid credential")
	addr := startFake(t, f)
	dir := t.TempDir()
	tokFile := writeToken(t, dir, "t.token", "tok-secret-value\n", 0o600)
	xdg := filepath.Join(dir, "xdg")
	admin := writeToken(t, filepath.Join(xdg, "secretbroker"), adminTokenFile, "tok-secret-value\n", 0o600)
	for _, c := range []struct {
		args []string
		vars map[string]string
		sent string
	}{
		{nil, nil, "no credential"},
		{nil, map[string]string{"XDG_STATE_HOME": xdg}, "token from " + admin},
		{nil, map[string]string{tokenEnv: "tok-secret-value"}, "token from SECRETBROKER_TOKEN"},
		{nil, map[string]string{tokenFileEnv: tokFile}, "token from " + tokFile + " (SECRETBROKER_TOKEN_FILE)"},
		{[]string{"-token-file", tokFile}, nil, "token from " + tokFile + " (-token-file)"},
		{[]string{"-data-dir", filepath.Join(xdg, "secretbroker")}, nil, "token from " + admin + " (-data-dir)"},
	} {
		r := runCLIEnv(t, authEnv(c.vars, ""), "", append(append([]string{"-addr", addr}, c.args...), "lockers")...)
		wantOneErrorLine(t, r, 1)
		if want := "secretbroker: Unauthenticated: no valid credential (sent: " + c.sent + expect; r.stderr != want {
			t.Errorf("%q %v:\n got %q\nwant %q", c.args, c.vars, r.stderr, want)
		}
		if strings.Contains(r.stderr, "tok-secret-value") {
			t.Errorf("the token is printed: %q", r.stderr)
		}
	}

	// A client certificate is named by its subject.
	tf := newFake()
	tf.err = status.Error(codes.Unauthenticated, "certificate not known")
	taddr, caFile, certFile, keyFile := tlsFake(t, tf)
	r := runCLI(t, "", "-addr", taddr, "-ca", caFile, "-cert", certFile, "-key", keyFile, "lockers")
	if want := "secretbroker: Unauthenticated: certificate not known (sent: client certificate CN=bot-runner from " + certFile + expect; r.stderr != want {
		t.Errorf("client certificate:\n got %q\nwant %q", r.stderr, want)
	}
}

func TestHelpDocumentsAuthentication(t *testing.T) {
	r := runCLI(t, "", "-h")
	for _, want := range []string{
		"-token-file", "-data-dir", "-ca", "-cert", "-key", "-server-name", "-purpose", "SECRETBROKER_TOKEN_FILE",
		"NOT as an identity", "never given on the command line", "audit",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-h does not mention %q", want)
		}
	}
	if strings.Contains(r.stdout, "-token ") {
		t.Error("-h mentions a -token flag")
	}
	r = runCLI(t, "", "lockers", "-h")
	if !strings.Contains(r.stdout, "-token-file") || !strings.Contains(r.stdout, "-purpose") {
		t.Errorf("lockers -h does not point at the connection flags:\n%s", r.stdout)
	}
}
