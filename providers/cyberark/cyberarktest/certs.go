package cyberarktest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/secretbroker/secretbroker/internal/testpki"
)

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
	ca, err := testpki.NewCA("cyberarktest CA")
	if err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	other, err := testpki.NewCA("cyberarktest untrusted CA")
	if err != nil {
		return nil, fmt.Errorf("untrusted CA: %w", err)
	}
	m := &material{dir: dir, clientCAs: ca.Pool()}
	if m.caFile, err = testpki.WritePEM(dir, "ca.pem", ca.CertPEM()); err != nil {
		return nil, err
	}

	server, err := ca.Issue(testpki.LeafOptions{CommonName: "localhost", Server: true})
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	m.serverCert = server.TLS

	client, err := ca.Issue(testpki.LeafOptions{CommonName: "secretbroker-client", Client: true})
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	if m.clientCert, m.clientKey, err = client.WriteFiles(dir, "client"); err != nil {
		return nil, err
	}

	untrusted, err := other.Issue(testpki.LeafOptions{CommonName: "secretbroker-client", Client: true})
	if err != nil {
		return nil, fmt.Errorf("untrusted client certificate: %w", err)
	}
	if m.untrustedCert, m.untrustedKey, err = untrusted.WriteFiles(dir, "untrusted-client"); err != nil {
		return nil, err
	}
	return m, nil
}
