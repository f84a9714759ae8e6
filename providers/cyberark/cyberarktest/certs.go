package cyberarktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// authority is a throw-away certificate authority.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"secretbroker tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, der: der}, nil
}

// issue signs a leaf certificate for a server (with SANs localhost,
// 127.0.0.1 and ::1) or for a client.
func (a *authority) issue(cn string, server bool) (certDER []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"secretbroker tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, err
	}
	return certDER, key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writePair writes a certificate and its key as PEM files in dir and
// returns their paths.
func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) (certFile, keyFile string, err error) {
	kp, err := keyPEM(key)
	if err != nil {
		return "", "", err
	}
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, certPEM(der), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, kp, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// material is the certificates of one test server.
type material struct {
	dir                         string
	caFile                      string
	clientCert, clientKey       string
	untrustedCert, untrustedKey string
	serverCert                  tls.Certificate
	clientCAs                   *x509.CertPool
}

// newMaterial generates a test CA, a server certificate, a client
// certificate signed by the CA and one signed by another CA, and writes the
// CA and both client pairs to a new temporary directory.
func newMaterial() (_ *material, err error) {
	dir, err := os.MkdirTemp("", "cyberarktest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	ca, err := newAuthority("cyberarktest CA")
	if err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	other, err := newAuthority("cyberarktest untrusted CA")
	if err != nil {
		return nil, fmt.Errorf("untrusted CA: %w", err)
	}
	m := &material{dir: dir, caFile: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(m.caFile, certPEM(ca.der), 0o600); err != nil {
		return nil, err
	}

	sDER, sKey, err := ca.issue("localhost", true)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	m.serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}

	cDER, cKey, err := ca.issue("secretbroker-client", false)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	if m.clientCert, m.clientKey, err = writePair(dir, "client", cDER, cKey); err != nil {
		return nil, err
	}

	uDER, uKey, err := other.issue("secretbroker-client", false)
	if err != nil {
		return nil, fmt.Errorf("untrusted client certificate: %w", err)
	}
	if m.untrustedCert, m.untrustedKey, err = writePair(dir, "untrusted-client", uDER, uKey); err != nil {
		return nil, err
	}

	m.clientCAs = x509.NewCertPool()
	m.clientCAs.AddCert(ca.cert)
	return m, nil
}
