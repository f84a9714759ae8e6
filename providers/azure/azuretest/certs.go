package azuretest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/internal/testpki"
)

// testCA is a certificate authority that signs the server's TLS leaf.
type testCA struct {
	*testpki.CA
	pem []byte
}

func newCA() (*testCA, error) {
	ca, err := testpki.NewCA("azuretest CA")
	if err != nil {
		return nil, err
	}
	return &testCA{CA: ca, pem: ca.CertPEM()}, nil
}

// leaf issues a TLS server certificate for names and ips.
func (ca *testCA) leaf(names []string, ips []net.IP) (tls.Certificate, error) {
	l, err := ca.Issue(testpki.LeafOptions{CommonName: names[0], DNSNames: names, IPs: ips, Server: true})
	if err != nil {
		return tls.Certificate{}, err
	}
	return l.TLS, nil
}

// ClientCertificate is a service principal's certificate and RSA key.
type ClientCertificate struct {
	// Cert is the self-signed certificate registered with the application.
	Cert *x509.Certificate
	// Key is its private key.
	Key *rsa.PrivateKey
	// PEM holds the private key (PKCS#8, "PRIVATE KEY") followed by the
	// certificate, as "openssl req -x509 -nodes -newkey rsa:2048 -keyout
	// f.pem -out f.pem" writes it.
	PEM []byte
}

// NewClientCertificate generates a self-signed RSA-2048 client certificate,
// like the one a tenant administrator uploads to an app registration.
func NewClientCertificate() (*ClientCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "secretbroker service principal"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	return &ClientCertificate{Cert: cert, Key: key, PEM: out}, nil
}

// WriteClientCertificate writes a new client certificate that no test
// server knows (key and certificate in one PEM file, mode 0600) into a
// temporary directory of t and returns its path: a "wrong certificate".
func WriteClientCertificate(t testing.TB) string {
	t.Helper()
	c, err := NewClientCertificate()
	if err != nil {
		t.Fatalf("azuretest: client certificate: %v", err)
	}
	path := filepath.Join(t.TempDir(), "other-certificate.pem")
	if err := os.WriteFile(path, c.PEM, 0o600); err != nil {
		t.Fatalf("azuretest: %v", err)
	}
	return path
}

func writeFile(dir, name string, data []byte) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("azuretest: %w", err)
	}
	return path, nil
}
