package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// IdentityFromCert returns the identity a client certificate proves: its
// first URI SAN (a SPIFFE ID such as spiffe://corp.example/rpa/bot-pool-a),
// else its first DNS SAN, else its subject common name; "" when it has none.
func IdentityFromCert(c *x509.Certificate) string {
	switch {
	case c == nil:
		return ""
	case len(c.URIs) > 0 && c.URIs[0] != nil:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	default:
		return c.Subject.CommonName
	}
}

// DefaultCertCheckInterval is how often, at most, a CertReloader looks at
// its files' modification times and sizes.
const DefaultCertCheckInterval = 10 * time.Second

// CertReloaderOption configures a CertReloader.
type CertReloaderOption func(*certReloaderOptions)

type certReloaderOptions struct {
	now      func() time.Time
	interval time.Duration
	onReload func(error)
}

// WithCertClock sets the clock the reloader measures its check interval
// with (tests); the default is time.Now.
func WithCertClock(now func() time.Time) CertReloaderOption {
	return func(o *certReloaderOptions) { o.now = now }
}

// WithCertCheckInterval sets how often, at most, the files are checked for
// changes; the default is DefaultCertCheckInterval. Zero checks on every
// handshake.
func WithCertCheckInterval(d time.Duration) CertReloaderOption {
	return func(o *certReloaderOptions) { o.interval = d }
}

// WithCertReloadHook sets a function called after every reload attempt of
// changed files: with nil when the new material is in use, with the error
// when it was refused and the old material kept. It is not called for the
// first load (NewCertReloader returns that error) and must not block.
func WithCertReloadHook(f func(err error)) CertReloaderOption {
	return func(o *certReloaderOptions) { o.onReload = f }
}

// CertReloader serves a TLS server certificate and client CA bundle from
// files, and picks up changed files without a restart.
//
// A change is noticed by a file's modification time or size, checked at
// most once per interval when a client connects. The three files are then
// read together; if any fails (a rotation tool still writing, a key that
// does not match the certificate), the old material stays in use, Err
// reports why, and the files are tried again once they change again. A
// rewrite that keeps a file's size and modification time (within the file
// system's timestamp resolution) is not noticed: rotation tools that
// write a new file and rename it into place always are.
type CertReloader struct {
	certFile, keyFile, caFile string
	opts                      certReloaderOptions

	cur atomic.Pointer[certMaterial]

	mu        sync.Mutex // serialises checks and reloads
	lastCheck time.Time
	failed    [3]fileStamp // stamps of the files the last failed reload read
	lastErr   error
}

type certMaterial struct {
	cert   *tls.Certificate
	pool   *x509.CertPool // nil without a client CA file
	stamps [3]fileStamp
}

// fileStamp is what a change is noticed by; the zero fileStamp stands for
// a file that is missing, not configured, or cannot be looked at.
type fileStamp struct {
	modTime time.Time
	size    int64
}

// NewCertReloader loads the server certificate and key from certFile and
// keyFile (PEM) and, unless clientCAFile is "", the client certificate
// authorities from clientCAFile (PEM, one or more certificates). Errors
// name the file at fault and what to do.
func NewCertReloader(certFile, keyFile, clientCAFile string, opts ...CertReloaderOption) (*CertReloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: both cert_file and key_file must be set")
	}
	r := &CertReloader{
		certFile: certFile, keyFile: keyFile, caFile: clientCAFile,
		opts: certReloaderOptions{now: time.Now, interval: DefaultCertCheckInterval},
	}
	for _, o := range opts {
		o(&r.opts)
	}
	if r.opts.interval < 0 {
		return nil, fmt.Errorf("tls: check interval %s is negative", r.opts.interval)
	}
	m, _, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	r.lastCheck = r.opts.now()
	return r, nil
}

// TLSConfig returns a configuration for a TLS server (TLS 1.2 or later)
// that uses the reloader's current material on every new connection. When
// a client CA file is configured it requires a client certificate and
// verifies it against those authorities (tls.RequireAndVerifyClientCert);
// otherwise it asks for none. Each call returns a new *tls.Config.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: r.configForClient,
	}
}

func (r *CertReloader) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.maybeReload()
	m := r.cur.Load()
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*m.cert},
	}
	if m.pool != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = m.pool
	}
	return cfg, nil
}

// Certificate returns the server certificate in use.
func (r *CertReloader) Certificate() *x509.Certificate { return r.cur.Load().cert.Leaf }

// Err returns why the last reload of changed files was refused, or nil
// when the files in use are the newest ones read.
func (r *CertReloader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Reload reads the files now, whether they changed or not, and uses them
// if they load; otherwise it keeps the old material and returns the error
// (which Err then also returns).
func (r *CertReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastCheck = r.opts.now()
	return r.reloadLocked()
}

// maybeReload reloads when the interval has passed since the last check
// and a file's stamp changed since the material in use (or since the last
// failed attempt) was read.
func (r *CertReloader) maybeReload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.now()
	if now.Sub(r.lastCheck) < r.opts.interval {
		return
	}
	r.lastCheck = now
	stamps := r.stat()
	if stamps == r.cur.Load().stamps {
		r.lastErr = nil // back to the files in use
		return
	}
	if r.lastErr != nil && stamps == r.failed {
		return
	}
	r.reloadLocked()
}

func (r *CertReloader) reloadLocked() error {
	m, stamps, err := r.load()
	if err != nil {
		r.lastErr = err
		r.failed = stamps
	} else {
		r.lastErr = nil
		r.cur.Store(m)
	}
	if r.opts.onReload != nil {
		r.opts.onReload(err)
	}
	return err
}

func (r *CertReloader) files() [3]string { return [3]string{r.certFile, r.keyFile, r.caFile} }

func (r *CertReloader) stat() [3]fileStamp {
	var s [3]fileStamp
	for i, name := range r.files() {
		if name == "" {
			continue
		}
		if fi, err := os.Stat(name); err == nil {
			s[i] = fileStamp{modTime: fi.ModTime(), size: fi.Size()}
		}
	}
	return s
}

// load reads all files and returns them with the stamps taken before
// reading, so that a file changing while it is read is read again at the
// next check.
func (r *CertReloader) load() (*certMaterial, [3]fileStamp, error) {
	stamps := r.stat()
	m, err := r.read()
	if err != nil {
		return nil, stamps, err
	}
	m.stamps = stamps
	return m, stamps, nil
}

func (r *CertReloader) read() (*certMaterial, error) {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("tls: cert_file: %w (it must be the server certificate, PEM)", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: key_file: %w (it must be the server certificate's private key, PEM)", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: cert_file %s with key_file %s: %w (both must be PEM, the key the certificate's own)", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: cert_file %s: %w", r.certFile, err)
		}
	}
	m := &certMaterial{cert: &cert}
	if r.caFile != "" {
		if m.pool, err = loadCAPool(r.caFile); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func loadCAPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: client_ca_file: %w (it must hold the PEM certificates of the authorities that issue client certificates)", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls: client_ca_file %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tls: client_ca_file %s holds no PEM CERTIFICATE block (it must hold the certificates of the authorities that issue client certificates)", file)
	}
	return pool, nil
}
