package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantTransport fails unless TransportCode classifies err as Unavailable
// with reason want.
func wantTransport(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	code, reason, ok := TransportCode(err)
	if !ok || code != Unavailable || reason != want {
		t.Fatalf("TransportCode(%v) = %v, %q, %v; want Unavailable, %q, true", err, code, reason, ok, want)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// rawServer accepts connections on loopback and hands each to handle; it
// stops at the end of the test.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		l.Close()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

// quietLog keeps a test server's refused handshakes out of the test log.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTransportCodeRefused(t *testing.T) {
	var d net.Dialer
	_, err := d.DialContext(testCtx(t), "tcp", closedAddr(t))
	wantTransport(t, err, "connection refused")

	// The same through an HTTP client, as drivers see it.
	c := &http.Client{Transport: &http.Transport{}}
	_, err = c.Get("http://" + closedAddr(t) + "/")
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("want a *url.Error, got %T", err)
	}
	wantTransport(t, err, "connection refused")
}

func TestTransportCodeUntrustedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	defer srv.Close()

	// A client with the system roots does not trust httptest's certificate.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	_, err := c.Get(srv.URL)
	wantTransport(t, err, "TLS handshake failed: certificate not trusted")
	if !IsTLSError(err) {
		t.Error("IsTLSError is false for an untrusted certificate")
	}

	// A client that trusts the certificate but expects another name.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "vault.other.test"})
	if err == nil {
		conn.Close()
	}
	wantTransport(t, err, "TLS handshake failed: certificate does not match the host name")
}

func TestTransportCodeServerRefusesClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// The client trusts the server but has no certificate: the server
	// sends an alert, which the client sees as a "remote error".
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, err := c.Get(srv.URL)
	wantTransport(t, err, "TLS handshake failed: the server refused the handshake (client certificate or protocol)")
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		t.Fatalf("want a remote error *net.OpError in %v", err)
	}
}

func TestTransportCodeNotTLS(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{ServerName: "127.0.0.1"})
	if err == nil {
		conn.Close()
	}
	wantTransport(t, err, "TLS handshake failed: the server did not answer with TLS")
}

func TestTransportCodeClosedMidExchange(t *testing.T) {
	// The server reads the request and hangs up without answering.
	addr := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 4096))
		c.Close()
	})
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := c.Get("http://" + addr + "/")
	wantTransport(t, err, "connection closed before the answer was complete")

	// The server promises a body and hangs up half way through it.
	addr = rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 4096))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part")
		c.Close()
	})
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a cut body: %v", err)
	}
	wantTransport(t, err, "connection closed before the answer was complete")
}

func TestTransportCodeReset(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 4096))
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
		c.Close()
	})
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := c.Get("http://" + addr + "/")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Skipf("the kernel did not report a reset: %v", err)
	}
	wantTransport(t, err, "connection reset")
}

func TestTransportCodeTimeout(t *testing.T) {
	// The server accepts and never answers; the client's own timeout ends
	// the exchange.
	addr := rawServer(t, func(c net.Conn) { c.Read(make([]byte, 4096)) })
	c := &http.Client{Timeout: 50 * time.Millisecond, Transport: &http.Transport{}}
	_, err := c.Get("http://" + addr + "/")
	wantTransport(t, err, "timed out")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = conn.Read(make([]byte, 1))
	wantTransport(t, err, "timed out")
}

func TestTransportCodeConstructed(t *testing.T) {
	opErr := func(op string, err error) error {
		return &url.Error{Op: "Get", URL: "https://vault.test/v1/secret", Err: &net.OpError{Op: op, Net: "tcp", Err: err}}
	}
	cases := []struct {
		err  error
		want string
	}{
		{opErr("dial", &net.DNSError{Err: "no such host", Name: "vault.test", IsNotFound: true}), "DNS lookup failed: no such host"},
		{opErr("dial", &net.DNSError{Err: "server misbehaving", Name: "vault.test", IsTemporary: true}), "DNS lookup failed"},
		{opErr("dial", &net.DNSError{Err: "i/o timeout", Name: "vault.test", IsTimeout: true}), "DNS lookup failed"},
		{opErr("dial", syscall.ECONNREFUSED), "connection refused"},
		{opErr("read", syscall.ECONNRESET), "connection reset"},
		{opErr("write", syscall.EPIPE), "connection reset"},
		{opErr("dial", syscall.EHOSTUNREACH), "host or network unreachable"},
		{opErr("dial", syscall.ENETUNREACH), "host or network unreachable"},
		{opErr("dial", syscall.ETIMEDOUT), "timed out"},
		{opErr("dial", errors.New("something new")), "network error"},
		{opErr("remote error", errors.New("tls: bad certificate")), "TLS handshake failed: the server refused the handshake (client certificate or protocol)"},
		{fmt.Errorf("get: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "TLS handshake failed: certificate not trusted"},
		{fmt.Errorf("get: %w", &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "x"}}), "TLS handshake failed: certificate does not match the host name"},
		{fmt.Errorf("get: %w", &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}), "TLS handshake failed: certificate expired or not yet valid"},
		{fmt.Errorf("get: %w", &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}}), "TLS handshake failed: certificate invalid"},
		{fmt.Errorf("get: %w", &tls.CertificateVerificationError{Err: errors.New("other")}), "TLS handshake failed: certificate verification failed"},
		{x509.SystemRootsError{}, "TLS handshake failed: no system root certificates"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "TLS handshake failed: the server did not answer with TLS"},
		{fmt.Errorf("handshake: %w", tls.AlertError(42)), "TLS handshake failed"},
		{fmt.Errorf("request timeout: %w", context.DeadlineExceeded), "timed out"},
		{&url.Error{Op: "Get", URL: "u", Err: context.DeadlineExceeded}, "timed out"},
		{fmt.Errorf("read: %w", io.EOF), "connection closed before the answer was complete"},
	}
	for _, c := range cases {
		wantTransport(t, c.err, c.want)
		if strings.Contains(c.want, "TLS") != IsTLSError(c.err) {
			t.Errorf("IsTLSError(%v) = %v", c.err, IsTLSError(c.err))
		}
	}
	for _, err := range []error{
		nil,
		context.Canceled,
		&url.Error{Op: "Get", URL: "u", Err: context.Canceled},
		errors.New("http: server gave HTTP response to HTTPS client"),
		&url.Error{Op: "Get", URL: "u", Err: errors.New("unsupported protocol scheme")},
		Errorf(NotFound, nil, "no secret"),
	} {
		if code, reason, ok := TransportCode(err); ok {
			t.Errorf("TransportCode(%v) = %v, %q, true; want ok false", err, code, reason)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"120", 120 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
		{"Mon, 30 Nov 2026 12:00:30 GMT", 30 * time.Second},
		{"Monday, 30-Nov-26 12:01:00 GMT", time.Minute},
		{"Mon, 30 Nov 2026 11:59:00 GMT", 0},
		{"Wed, 30 Dec 2026 12:00:00 GMT", 24 * time.Hour},
	}
	for _, c := range cases {
		if got := ParseRetryAfter(c.in, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	h := http.Header{}
	if got := RetryAfterHeader(nil, now); got != 0 {
		t.Errorf("nil header: %v", got)
	}
	if got := RetryAfterHeader(h, now); got != 0 {
		t.Errorf("empty header: %v", got)
	}
	h.Set("Retry-After", "3")
	if got := RetryAfterHeader(h, now); got != 3*time.Second {
		t.Errorf("Retry-After 3: %v", got)
	}
	h.Set("x-ms-retry-after-ms", "1500")
	if got := RetryAfterHeader(h, now); got != 1500*time.Millisecond {
		t.Errorf("x-ms-retry-after-ms wins: %v", got)
	}
	h.Set("retry-after-ms", "250")
	if got := RetryAfterHeader(h, now); got != 250*time.Millisecond {
		t.Errorf("retry-after-ms wins: %v", got)
	}
}
