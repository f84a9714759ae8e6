// Package testpki issues throwaway certificate authorities and certificates
// for tests: servers on loopback and client certificates for mutual TLS.
// Nothing in it is for production use.
package testpki

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
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// organization is the subject organization of every certificate issued here.
const organization = "secretbroker tests"

// CA is a self-signed ECDSA P-256 certificate authority, valid from an hour
// ago to a day from now.
type CA struct {
	// Cert is the authority's certificate.
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// LeafOptions says what a certificate issued by a CA is for.
type LeafOptions struct {
	// CommonName is the subject's common name.
	CommonName string
	// DNSNames and IPs are the subject alternative names. A server
	// certificate with neither is for localhost, 127.0.0.1 and ::1.
	DNSNames []string
	IPs      []net.IP
	// URIs are URI subject alternative names, such as a SPIFFE ID.
	URIs []*url.URL
	// Client and Server set the extended key usages: TLS client
	// authentication, TLS server authentication, or both.
	Client, Server bool
}

// Leaf is a certificate issued by a CA, with its ECDSA P-256 key.
type Leaf struct {
	// Cert is the parsed certificate.
	Cert *x509.Certificate
	// CertPEM is the certificate as a PEM "CERTIFICATE" block.
	CertPEM []byte
	// KeyPEM is the private key as a PEM "PRIVATE KEY" (PKCS #8) block.
	KeyPEM []byte
	// TLS is the certificate and key for a tls.Config.
	TLS tls.Certificate
}

// NewCA creates a certificate authority named commonName.
func NewCA(commonName string) (*CA, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{organization}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cert, key, err := create(tmpl, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA %q: %w", commonName, err)
	}
	return &CA{Cert: cert, key: key}, nil
}

// Issue creates a certificate signed by ca.
func (ca *CA) Issue(opts LeafOptions) (*Leaf, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: opts.CommonName, Organization: []string{organization}},
		DNSNames:    opts.DNSNames,
		IPAddresses: opts.IPs,
		URIs:        opts.URIs,
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	if opts.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		if len(opts.DNSNames) == 0 && len(opts.IPs) == 0 {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
	}
	if opts.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	cert, key, err := create(tmpl, ca.Cert, ca.key)
	if err != nil {
		return nil, fmt.Errorf("testpki: certificate %q: %w", opts.CommonName, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testpki: certificate %q: %w", opts.CommonName, err)
	}
	return &Leaf{
		Cert:    cert,
		CertPEM: pemCert(cert),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		TLS:     tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
	}, nil
}

// CertPEM returns the authority's certificate as a PEM "CERTIFICATE" block.
func (ca *CA) CertPEM() []byte { return pemCert(ca.Cert) }

// Pool returns a certificate pool holding only the authority's certificate,
// for tls.Config.RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// WriteFiles writes the certificate to dir/name.pem and its key to
// dir/name-key.pem, both with mode 0600, and returns their paths.
func (l *Leaf) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	if certFile, err = WritePEM(dir, name+".pem", l.CertPEM); err != nil {
		return "", "", err
	}
	if keyFile, err = WritePEM(dir, name+"-key.pem", l.KeyPEM); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// WritePEM writes the PEM blocks, one after another, to dir/name with mode
// 0600 and returns the file's path.
func WritePEM(dir, name string, blocks ...[]byte) (string, error) {
	var data []byte
	for _, b := range blocks {
		data = append(data, b...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("testpki: %w", err)
	}
	return path, nil
}

// Must returns v, and panics if err is not nil. It is for tests, where NewCA
// and Issue fail only on a broken system: ca := Must(NewCA("test CA")).
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// create fills in tmpl's serial number and validity, generates a key and
// signs the certificate with parent and parentKey, or by itself when
// parent is nil.
func create(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120)); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func pemCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}
