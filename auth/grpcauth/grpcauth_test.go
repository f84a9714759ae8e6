package grpcauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/internal/testpki"
)

// The secured test service is the health service under another name, so
// that it has a unary (Check) and a streaming (Watch) method that are not
// exempt. It answers with who called in its response header.
const (
	securedCheck = "/test.Secured/Check"
	securedWatch = "/test.Secured/Watch"
)

type whoami struct {
	healthgrpc.UnimplementedHealthServer
	calls atomic.Int64
}

func principalHeader(ctx context.Context) metadata.MD {
	md := metadata.MD{}
	if p, ok := auth.FromContext(ctx); ok {
		md.Set("x-principal", p.ID)
		md.Set("x-method", string(p.Method))
		md.Set("x-aliases", p.Aliases...)
	}
	md.Set("x-purpose", auth.PurposeFromContext(ctx))
	return md
}

func (w *whoami) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	w.calls.Add(1)
	if err := grpc.SetHeader(ctx, principalHeader(ctx)); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (w *whoami) Watch(_ *healthpb.HealthCheckRequest, ss healthgrpc.Health_WatchServer) error {
	w.calls.Add(1)
	if err := ss.SetHeader(principalHeader(ss.Context())); err != nil {
		return err
	}
	return ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
}

// services are the implementations every grpc.Server of a test shares:
// the daemon's pattern of one set of services behind several listeners.
type services struct {
	health *health.Server
	secure *whoami
}

func newServices() *services { return &services{health: health.NewServer(), secure: &whoami{}} }

func (s *services) register(srv *grpc.Server) {
	healthgrpc.RegisterHealthServer(srv, s.health)
	desc := healthgrpc.Health_ServiceDesc
	desc.ServiceName = "test.Secured"
	srv.RegisterService(&desc, s.secure)
}

// serve runs a grpc.Server with a's options and creds on ln until the test
// ends.
func serve(t *testing.T, a *Authenticator, creds credentials.TransportCredentials, svc *services, ln net.Listener) {
	t.Helper()
	srv := grpc.NewServer(a.ServerOptions(creds)...)
	svc.register(srv)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
}

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func dial(t *testing.T, target string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// who calls method (unary Check or streaming Watch) with the outgoing
// metadata kv and returns the response header the secured service set.
func who(t *testing.T, cc *grpc.ClientConn, method string, kv ...string) (metadata.MD, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	if strings.HasSuffix(method, "/Watch") {
		st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
		if err != nil {
			return nil, err
		}
		if err := st.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
			return nil, err
		}
		if err := st.CloseSend(); err != nil {
			return nil, err
		}
		var resp healthpb.HealthCheckResponse
		if err := st.RecvMsg(&resp); err != nil {
			return nil, err
		}
		return st.Header()
	}
	var hdr metadata.MD
	err := cc.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}, grpc.Header(&hdr))
	return hdr, err
}

func wantPrincipal(t *testing.T, step string, hdr metadata.MD, err error, id string, method auth.Method) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", step, err)
		return
	}
	if got := hdr.Get("x-principal"); len(got) != 1 || got[0] != id {
		t.Errorf("%s: principal %v, want %q", step, got, id)
	}
	if got := hdr.Get("x-method"); len(got) != 1 || got[0] != string(method) {
		t.Errorf("%s: method %v, want %q", step, got, method)
	}
}

func wantCode(t *testing.T, step string, err error, code codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("%s: %v, want code %v", step, err, code)
		return
	}
	if msg != "" && st.Message() != msg {
		t.Errorf("%s: message %q, want %q", step, st.Message(), msg)
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	botToken     = "bot-token-7c1f0e"
	unknownToken = "stolen-or-stale-3b9d"
	noCredsMsg   = "send a bearer token (authorization: Bearer ...) or a client certificate"
)

func newTokens(t *testing.T) *auth.TokenSet {
	t.Helper()
	// The configuration holds the hash only.
	ts, err := auth.NewTokenSet([]auth.Token{{Identity: "bot-pool-a", SHA256: auth.HashToken(botToken)}})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestTokensOnPlaintextLoopback(t *testing.T) {
	logs := &syncBuffer{}
	a, err := New(Options{Tokens: newTokens(t), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	if err := PlaintextAllowed(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	svc := newServices()
	serve(t, a, insecure.NewCredentials(), svc, ln)
	cc := dial(t, "passthrough:///"+ln.Addr().String(), insecure.NewCredentials())

	for _, m := range []string{securedCheck, securedWatch} {
		_, err := who(t, cc, m)
		wantCode(t, m+" without credentials", err, codes.Unauthenticated, noCredsMsg)

		hdr, err := who(t, cc, m, "authorization", "Bearer "+botToken)
		wantPrincipal(t, m+" with a known token", hdr, err, "bot-pool-a", auth.MethodToken)

		hdr, err = who(t, cc, m, "authorization", "bearer "+botToken)
		wantPrincipal(t, m+" with a lower-case scheme", hdr, err, "bot-pool-a", auth.MethodToken)

		_, err = who(t, cc, m, "authorization", "Bearer "+unknownToken)
		wantCode(t, m+" with an unknown token", err, codes.Unauthenticated, "token not recognised")
	}

	// The config's hash is not a token.
	_, err = who(t, cc, securedCheck, "authorization", "Bearer "+auth.HashToken(botToken))
	wantCode(t, "the hash as a token", err, codes.Unauthenticated, "token not recognised")

	_, err = who(t, cc, securedCheck, "authorization", "Basic "+unknownToken)
	wantCode(t, "basic auth", err, codes.Unauthenticated, `authorization metadata must be "Bearer <token>"`)
	_, err = who(t, cc, securedCheck, "authorization", "Bearer ")
	wantCode(t, "empty token", err, codes.Unauthenticated, "authorization metadata has an empty bearer token")
	_, err = who(t, cc, securedCheck, "authorization", "Bearer "+botToken, "authorization", "Bearer "+unknownToken)
	wantCode(t, "two tokens", err, codes.Unauthenticated, "send one authorization metadata value, not 2")

	if n := svc.secure.calls.Load(); n != 4 {
		t.Errorf("secured service ran %d times, want 4 (only the authenticated calls)", n)
	}

	// Health needs no credentials, unary and streaming; a bad token there
	// does not matter either.
	hc := healthgrpc.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check without credentials: %v, %v", resp, err)
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if err != nil {
		t.Errorf("health watch without credentials: %v", err)
	}

	if out := logs.String(); strings.Contains(out, unknownToken) || strings.Contains(out, botToken) {
		t.Errorf("a token reached the log:\n%s", out)
	} else if !strings.Contains(out, "token not recognised") || !strings.Contains(out, securedCheck) {
		t.Errorf("log does not record the refusals:\n%s", out)
	}
}

func TestPurpose(t *testing.T) {
	a, err := New(Options{Tokens: newTokens(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	serve(t, a, insecure.NewCredentials(), newServices(), ln)
	cc := dial(t, "passthrough:///"+ln.Addr().String(), insecure.NewCredentials())
	for _, tc := range []struct{ name, header, want string }{
		{"plain", "nightly run", "nightly run"},
		{"percent-encoded", "ticket%20INC-42%3A%20%E2%9C%93", "ticket INC-42: ✓"},
		{"plus is literal", "a+b", "a+b"},
		{"max length", strings.Repeat("x", 256), strings.Repeat("x", 256)},
		{"too long", strings.Repeat("x", 257), ""},
		{"control character", "line%0Abreak", ""},
		{"escape character", "%1B[31m", ""},
		{"invalid UTF-8", "%FF%FE", ""},
		{"bad escape", "100%", ""},
		{"absent", "", ""},
	} {
		kv := []string{"authorization", "Bearer " + botToken}
		if tc.header != "" {
			kv = append(kv, PurposeHeader, tc.header)
		}
		hdr, err := who(t, cc, securedCheck, kv...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := hdr.Get("x-purpose"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: purpose %q, want %q", tc.name, got, tc.want)
		}
	}
}

// uriCA is a certificate authority issuing client certificates with a URI
// SAN, which testpki does not offer.
type uriCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newURICA(t *testing.T) *uriCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SPIFFE test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &uriCA{cert: cert, key: key}
}

func (ca *uriCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func (ca *uriCA) issue(t *testing.T, uri, dns, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		URIs: []*url.URL{u}, DNSNames: []string{dns},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtlsServer serves on loopback with a CertReloader whose client CA file
// holds both a testpki CA and a URI CA.
type mtlsServer struct {
	addr     string
	serverCA *testpki.CA
	clientCA *testpki.CA
	uriCA    *uriCA
	svc      *services
}

func newMTLSServer(t *testing.T, a *Authenticator) *mtlsServer {
	t.Helper()
	dir := t.TempDir()
	m := &mtlsServer{
		serverCA: testpki.Must(testpki.NewCA("server CA")),
		clientCA: testpki.Must(testpki.NewCA("client CA")),
		uriCA:    newURICA(t),
		svc:      newServices(),
	}
	leaf := testpki.Must(m.serverCA.Issue(testpki.LeafOptions{CommonName: "secretbrokerd", Server: true}))
	certFile, keyFile, err := leaf.WriteFiles(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := testpki.WritePEM(dir, "client-ca.pem", m.clientCA.CertPEM(), m.uriCA.pem())
	if err != nil {
		t.Fatal(err)
	}
	r, err := auth.NewCertReloader(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	m.addr = ln.Addr().String()
	serve(t, a, credentials.NewTLS(r.TLSConfig()), m.svc, ln)
	return m
}

func (m *mtlsServer) dial(t *testing.T, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: m.serverCA.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return dial(t, "passthrough:///"+m.addr, credentials.NewTLS(cfg))
}

func TestMTLS(t *testing.T) {
	a, err := New(Options{Tokens: newTokens(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := newMTLSServer(t, a)

	spiffe := m.uriCA.issue(t, "spiffe://corp.example/rpa/bot-pool-a", "bot.corp.example", "bot")
	cc := m.dial(t, &spiffe)
	for _, meth := range []string{securedCheck, securedWatch} {
		hdr, err := who(t, cc, meth)
		wantPrincipal(t, meth+" with a SPIFFE certificate", hdr, err, "spiffe://corp.example/rpa/bot-pool-a", auth.MethodMTLS)
	}
	// The certificate wins over a token, known or not.
	hdr, err := who(t, cc, securedCheck, "authorization", "Bearer "+unknownToken)
	wantPrincipal(t, "certificate and unknown token", hdr, err, "spiffe://corp.example/rpa/bot-pool-a", auth.MethodMTLS)
	hdr, err = who(t, cc, securedCheck, "authorization", "Bearer "+botToken)
	wantPrincipal(t, "certificate and known token", hdr, err, "spiffe://corp.example/rpa/bot-pool-a", auth.MethodMTLS)

	cnOnly := testpki.Must(m.clientCA.Issue(testpki.LeafOptions{CommonName: "control-room", Client: true}))
	hdr, err = who(t, m.dial(t, &cnOnly.TLS), securedCheck)
	wantPrincipal(t, "certificate with a CN only", hdr, err, "control-room", auth.MethodMTLS)

	before := m.svc.secure.calls.Load()
	stranger := testpki.Must(testpki.Must(testpki.NewCA("stranger CA")).Issue(testpki.LeafOptions{CommonName: "intruder", Client: true}))
	_, err = who(t, m.dial(t, &stranger.TLS), securedCheck, "authorization", "Bearer "+botToken)
	wantCode(t, "untrusted certificate", err, codes.Unavailable, "")
	_, err = who(t, m.dial(t, nil), securedCheck, "authorization", "Bearer "+botToken)
	wantCode(t, "no certificate where one is required", err, codes.Unavailable, "")
	if n := m.svc.secure.calls.Load(); n != before {
		t.Errorf("the service ran %d times for refused handshakes", n-before)
	}
}

func TestTokenOverTLSWithoutClientCA(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.Must(testpki.NewCA("server CA"))
	certFile, keyFile, err := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "d", Server: true})).WriteFiles(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	r, err := auth.NewCertReloader(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Tokens: newTokens(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	serve(t, a, credentials.NewTLS(r.TLSConfig()), newServices(), ln)
	cc := dial(t, "passthrough:///"+ln.Addr().String(), credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}))
	_, err = who(t, cc, securedCheck)
	wantCode(t, "TLS without credentials", err, codes.Unauthenticated, noCredsMsg)
	hdr, err := who(t, cc, securedCheck, "authorization", "Bearer "+botToken)
	wantPrincipal(t, "TLS with a token", hdr, err, "bot-pool-a", auth.MethodToken)
}

func TestUnixCredentialsRefuseTCP(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln := loopback(t)
	svc := newServices()
	serve(t, a, UnixPeerCredentials(), svc, ln)
	cc := dial(t, "passthrough:///"+ln.Addr().String(), insecure.NewCredentials())
	_, err = who(t, cc, securedCheck)
	wantCode(t, "unix credentials on TCP", err, codes.Unavailable, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthgrpc.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	wantCode(t, "health on TCP with unix credentials", err, codes.Unavailable, "")
	if n := svc.secure.calls.Load(); n != 0 {
		t.Errorf("service ran %d times", n)
	}
}

func TestNewAllowUnauthenticated(t *testing.T) {
	for _, bad := range []string{"", "/", "noslash", "/svc/", "//m", "/svc/a/b", "/s*/m", "/svc/m*"} {
		if _, err := New(Options{AllowUnauthenticated: []string{bad}}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	a, err := New(Options{AllowUnauthenticated: []string{"test.Secured/Check", "/other.Svc/*"}})
	if err != nil {
		t.Fatal(err)
	}
	for method, want := range map[string]bool{
		"/test.Secured/Check":          true,
		"/test.Secured/Watch":          false,
		"/other.Svc/Anything":          true,
		"/other.SvcX/Anything":         false,
		"/grpc.health.v1.Health/Check": false, // the defaults are replaced
	} {
		if got := a.exempt(method); got != want {
			t.Errorf("exempt(%s) = %v, want %v", method, got, want)
		}
	}
	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for method, want := range map[string]bool{
		"/grpc.health.v1.Health/Check":                                   true,
		"/grpc.health.v1.Health/Watch":                                   true,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
		"/secretbroker.v1.SecretBroker/GetCredential":                    false,
		"": false,
	} {
		if got := d.exempt(method); got != want {
			t.Errorf("default exempt(%q) = %v, want %v", method, got, want)
		}
	}
	none, err := New(Options{AllowUnauthenticated: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if none.exempt("/grpc.health.v1.Health/Check") {
		t.Error("an empty list still exempts health")
	}
}

func TestPlaintextAllowed(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.1.2.3:7787", true},
		{"[::1]:0", true},
		{"[::ffff:127.0.0.1]:1", true},
		{"localhost:1", true},
		{"LOCALHOST:1", true},
		{"0.0.0.0:7787", false},
		{"[::]:7787", false},
		{":7787", false},
		{"192.0.2.3:1", false},
		{"example.com:1", false},
		{"localhost.example.com:1", false},
		{"127.0.0.1", false}, // no port
	} {
		err := PlaintextAllowed(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("PlaintextAllowed(%q) = %v, want allowed %v", tc.addr, err, tc.ok)
		}
	}
	err := PlaintextAllowed("0.0.0.0:7787")
	if err == nil {
		t.Fatal("0.0.0.0 allowed")
	}
	msg := err.Error()
	for _, w := range []string{"server.tls.cert_file", "server.tls.key_file", "server.tls.client_ca_file", InsecurePlaintextSetting} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
}
