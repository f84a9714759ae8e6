package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/internal/testpki"
)

func TestIdentityFromCert(t *testing.T) {
	spiffe, _ := url.Parse("spiffe://corp.example/rpa/bot-pool-a")
	other, _ := url.Parse("spiffe://corp.example/rpa/other")
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want string
	}{
		{"nil", nil, ""},
		{"URI first", &x509.Certificate{URIs: []*url.URL{spiffe, other}, DNSNames: []string{"bot.corp.example"}, Subject: pkix.Name{CommonName: "bot"}}, "spiffe://corp.example/rpa/bot-pool-a"},
		{"DNS", &x509.Certificate{DNSNames: []string{"bot.corp.example", "b2"}, Subject: pkix.Name{CommonName: "bot"}}, "bot.corp.example"},
		{"CN", &x509.Certificate{Subject: pkix.Name{CommonName: "bot"}}, "bot"},
		{"none", &x509.Certificate{}, ""},
	} {
		if got := IdentityFromCert(tc.cert); got != tc.want {
			t.Errorf("%s: IdentityFromCert = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pkiFiles writes certificates where a CertReloader reads them, each write
// with a modification time later than the one before, so that a change is
// seen whatever the file system's timestamp resolution.
type pkiFiles struct {
	t                      *testing.T
	dir                    string
	cert, key, ca          string
	mtime                  time.Time
	serverCA, clientCA     *testpki.CA
	serverLeaf, clientLeaf *testpki.Leaf
}

func newPKIFiles(t *testing.T) *pkiFiles {
	t.Helper()
	dir := t.TempDir()
	f := &pkiFiles{
		t: t, dir: dir,
		cert:     filepath.Join(dir, "server.pem"),
		key:      filepath.Join(dir, "server-key.pem"),
		ca:       filepath.Join(dir, "client-ca.pem"),
		mtime:    time.Now().Add(-time.Hour).Truncate(time.Second),
		serverCA: testpki.Must(testpki.NewCA("server CA")),
	}
	return f
}

func (f *pkiFiles) write(path string, data []byte) {
	f.t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
	f.mtime = f.mtime.Add(time.Second)
	if err := os.Chtimes(path, f.mtime, f.mtime); err != nil {
		f.t.Fatal(err)
	}
}

// newServerCert issues a server certificate and writes cert and key.
func (f *pkiFiles) newServerCert(cn string) *testpki.Leaf {
	f.t.Helper()
	l := testpki.Must(f.serverCA.Issue(testpki.LeafOptions{CommonName: cn, Server: true}))
	f.write(f.cert, l.CertPEM)
	f.write(f.key, l.KeyPEM)
	return l
}

// newClientCA writes a new client CA file and returns the CA.
func (f *pkiFiles) newClientCA(cn string) *testpki.CA {
	f.t.Helper()
	ca := testpki.Must(testpki.NewCA(cn))
	f.write(f.ca, ca.CertPEM())
	return ca
}

// tlsServer accepts connections on loopback with cfg, completes the
// handshake and writes one byte on success.
func tlsServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte{1})
				}
			})
		}
	})
	return ln.Addr().String()
}

// dialTLS connects as a client presenting client (if not nil) and returns
// the server's certificate, or the error that the handshake, on either
// side, ended with.
func dialTLS(addr string, roots *x509.CertPool, client *testpki.Leaf) (*x509.Certificate, error) {
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if client != nil {
		cfg.Certificates = []tls.Certificate{client.TLS}
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// With TLS 1.3 the server's verdict on the client certificate arrives
	// after the client's handshake: read the server's byte to learn it.
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestCertReloaderRotation(t *testing.T) {
	f := newPKIFiles(t)
	serverA := f.newServerCert("server A")
	caX := f.newClientCA("client CA X")
	clientX := testpki.Must(caX.Issue(testpki.LeafOptions{CommonName: "bot-x", Client: true}))

	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var hookMu sync.Mutex
	var hookErrs []error
	r, err := NewCertReloader(f.cert, f.key, f.ca,
		WithCertClock(clock.Now), WithCertCheckInterval(time.Minute),
		WithCertReloadHook(func(err error) { hookMu.Lock(); hookErrs = append(hookErrs, err); hookMu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	hooks := func() []error { hookMu.Lock(); defer hookMu.Unlock(); return append([]error(nil), hookErrs...) }

	cfg := r.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}
	addr := tlsServer(t, cfg)
	roots := f.serverCA.Pool()

	got, err := dialTLS(addr, roots, clientX)
	if err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	if got.Subject.CommonName != "server A" || !got.Equal(serverA.Cert) {
		t.Fatalf("served %q, want server A", got.Subject.CommonName)
	}
	if _, err := dialTLS(addr, roots, nil); err == nil {
		t.Error("a client without a certificate was accepted")
	}
	untrusted := testpki.Must(testpki.Must(testpki.NewCA("stranger")).Issue(testpki.LeafOptions{CommonName: "x", Client: true}))
	if _, err := dialTLS(addr, roots, untrusted); err == nil {
		t.Error("a client certificate from an unknown CA was accepted")
	}

	// Rotate the server certificate and the client CA.
	serverB := f.newServerCert("server B")
	caY := f.newClientCA("client CA Y")
	clientY := testpki.Must(caY.Issue(testpki.LeafOptions{CommonName: "bot-y", Client: true}))

	// Before the interval has passed, nothing is reread.
	clock.Advance(59 * time.Second)
	if got, err := dialTLS(addr, roots, clientX); err != nil || got.Subject.CommonName != "server A" {
		t.Fatalf("within the interval: served %v, %v; want server A still", got.Subject, err)
	}
	if _, err := dialTLS(addr, roots, clientY); err == nil {
		t.Error("within the interval, a client of the new CA was accepted")
	}

	clock.Advance(time.Second)
	got, err = dialTLS(addr, roots, clientY)
	if err != nil {
		t.Fatalf("after rotation, client of the new CA: %v", err)
	}
	if !got.Equal(serverB.Cert) {
		t.Errorf("after rotation served %q, want server B", got.Subject.CommonName)
	}
	if _, err := dialTLS(addr, roots, clientX); err == nil {
		t.Error("after rotation, a client of the old CA was accepted")
	}
	if h := hooks(); len(h) != 1 || h[0] != nil {
		t.Errorf("hook calls %v, want one successful reload", h)
	}
	if r.Err() != nil || !r.Certificate().Equal(serverB.Cert) {
		t.Errorf("Err = %v, Certificate %q; want nil, server B", r.Err(), r.Certificate().Subject.CommonName)
	}
}

func TestCertReloaderKeepsOldOnFailure(t *testing.T) {
	f := newPKIFiles(t)
	f.newServerCert("server A")
	caX := f.newClientCA("client CA X")
	clientX := testpki.Must(caX.Issue(testpki.LeafOptions{CommonName: "bot-x", Client: true}))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var hookMu sync.Mutex
	var hookErrs []error
	r, err := NewCertReloader(f.cert, f.key, f.ca, WithCertClock(clock.Now), WithCertCheckInterval(time.Minute),
		WithCertReloadHook(func(err error) { hookMu.Lock(); hookErrs = append(hookErrs, err); hookMu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	hooks := func() []error { hookMu.Lock(); defer hookMu.Unlock(); return append([]error(nil), hookErrs...) }
	addr := tlsServer(t, r.TLSConfig())
	roots := f.serverCA.Pool()
	served := func(step string) string {
		t.Helper()
		got, err := dialTLS(addr, roots, clientX)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return got.Subject.CommonName
	}

	// Half a rotation: the new certificate is written, its key not yet.
	serverB := testpki.Must(f.serverCA.Issue(testpki.LeafOptions{CommonName: "server B", Server: true}))
	f.write(f.cert, serverB.CertPEM)
	clock.Advance(time.Minute)
	if got := served("cert without its key"); got != "server A" {
		t.Fatalf("with a mismatched pair, served %q, want server A kept", got)
	}
	if r.Err() == nil || !strings.Contains(r.Err().Error(), f.cert) {
		t.Errorf("Err = %v, want the failure naming %s", r.Err(), f.cert)
	}
	if h := hooks(); len(h) != 1 || h[0] == nil {
		t.Errorf("hook calls %v, want one failure", h)
	}
	// The same broken files are not reread, nor reported again.
	clock.Advance(time.Minute)
	served("same broken files")
	if h := hooks(); len(h) != 1 {
		t.Errorf("hook called %d times for unchanged broken files, want 1", len(h))
	}

	// A CA file that is garbage keeps the old pool too.
	f.write(f.key, serverB.KeyPEM)
	f.write(f.ca, []byte("not a certificate\n"))
	clock.Advance(time.Minute)
	if got := served("garbage CA"); got != "server A" {
		t.Errorf("with a garbage CA file, served %q, want server A kept", got)
	}
	if r.Err() == nil || !strings.Contains(r.Err().Error(), f.ca) {
		t.Errorf("Err = %v, want the failure naming %s", r.Err(), f.ca)
	}

	// Completed: the key and a good CA file.
	f.write(f.ca, caX.CertPEM())
	clock.Advance(time.Minute)
	if got := served("completed"); got != "server B" {
		t.Errorf("after the rotation completed, served %q, want server B", got)
	}
	if r.Err() != nil {
		t.Errorf("Err = %v after a good reload", r.Err())
	}

	// Reload forces a read and reports its error.
	if err := os.Remove(f.key); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reload with the key gone = %v, want ErrNotExist", err)
	}
	if got := served("key removed"); got != "server B" {
		t.Errorf("with the key removed, served %q, want server B kept", got)
	}
}

func TestCertReloaderWithoutClientCA(t *testing.T) {
	f := newPKIFiles(t)
	f.newServerCert("server A")
	r, err := NewCertReloader(f.cert, f.key, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, r.TLSConfig())
	if got, err := dialTLS(addr, f.serverCA.Pool(), nil); err != nil || got.Subject.CommonName != "server A" {
		t.Errorf("without a client CA, a client without certificate: %v, %v", got, err)
	}
}

func TestNewCertReloaderErrors(t *testing.T) {
	f := newPKIFiles(t)
	f.newServerCert("server A")
	f.newClientCA("client CA")
	other := testpki.Must(f.serverCA.Issue(testpki.LeafOptions{CommonName: "other", Server: true}))
	otherKey, err := testpki.WritePEM(f.dir, "other-key.pem", other.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := testpki.WritePEM(f.dir, "empty.pem", []byte("# no certificates\n"))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(f.dir, "missing.pem")
	for _, tc := range []struct {
		name, cert, key, ca string
		want                []string
	}{
		{"no cert", "", f.key, f.ca, []string{"cert_file and key_file"}},
		{"missing cert", missing, f.key, f.ca, []string{"cert_file", missing}},
		{"missing key", f.cert, missing, f.ca, []string{"key_file", missing}},
		{"mismatched key", f.cert, otherKey, f.ca, []string{f.cert, otherKey}},
		{"missing CA", f.cert, f.key, missing, []string{"client_ca_file", missing}},
		{"empty CA", f.cert, f.key, empty, []string{"client_ca_file", empty, "no PEM CERTIFICATE"}},
	} {
		_, err := NewCertReloader(tc.cert, tc.key, tc.ca)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}
