package cyberarktest

import "crypto/tls"

// tlsServerConfig requires and verifies a client certificate signed by the
// test CA.
func tlsServerConfig(m *material) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    m.clientCAs,
	}
}
