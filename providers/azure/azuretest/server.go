// Package azuretest runs an in-process Azure Key Vault and Microsoft Entra
// ID token endpoint over HTTPS on loopback, for the tests of the azure
// provider and for end-to-end tests of the daemon.
//
// One Server speaks both protocols on one listener (127.0.0.1, a random
// port), with a TLS certificate from its own test CA:
//
//   - Key Vault's secrets REST API (api-version query parameter; GET
//     /secrets/{name}[/{version}], PUT /secrets/{name}, DELETE
//     /secrets/{name}, GET /deletedsecrets/{name}), including the bearer
//     challenge: a request without a valid token gets 401 with
//     WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
//     resource="<resource>". Tokens are verified: issued by this server
//     (HMAC-signed JWT), unexpired, for the tenant and the resource.
//   - Microsoft Entra's OpenID configuration (/{tenant}/v2.0/.well-known/openid-configuration),
//     instance discovery (/common/discovery/instance) and token endpoint
//     (/{tenant}/oauth2/v2.0/token) for the client credentials grant with a
//     client secret, a certificate assertion (RS256 or PS256 JWT whose x5t or
//     x5t#S256 names the registered certificate, signature, audience, issuer,
//     subject and lifetime checked) or a federated (workload identity) token.
//     Failures answer AADSTS-style JSON errors.
//
// # Reaching the server
//
// The realistic vault URL is https://myvault.vault.azure.net: the SDK
// verifies that the challenge's resource ("https://vault.azure.net") is a
// parent domain of the vault's host. A client reaches the server under that
// name through Server.DialContext (a custom dialer that maps the vault host
// and login.microsoftonline.com to the listener and refuses everything
// else); the certificate covers those names, localhost and 127.0.0.1.
//
// A client without a custom dialer (the daemon as a separate process) uses
// LoopbackVaultURL, https://127.0.0.1:<port>. The SDK's check is
// strings.HasSuffix(vaultHost, "."+resourceHost) on hosts with ports, so no
// resource can match "localhost:<port>" (no dot), but "https://0.0.1:<port>"
// matches "127.0.0.1:<port>": for requests to an IP address the server
// names that resource, and such a client passes the verification with
// tls.ca_file = CAFile, authority_host = AuthorityHost() and
// disable_instance_discovery: true.
package azuretest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Default identities of a Server.
const (
	// DefaultTenantID is the tenant of a Server without Options.TenantID.
	DefaultTenantID = "8f1a6b3e-2c4d-4e5f-9a0b-1c2d3e4f5a6b"
	// DefaultClientID is the application of a Server without Options.ClientID.
	DefaultClientID = "0d6c2f1e-7b8a-4c3d-9e2f-5a6b7c8d9e0f"
	// DefaultVaultName is the vault name of a Server without Options.VaultName.
	DefaultVaultName = "myvault"
	// PublicAuthorityHost is the public cloud's authority; DialContext maps
	// it to the server.
	PublicAuthorityHost = "login.microsoftonline.com"
)

// Fault is a failure the vault shows on every request.
type Fault int

// The faults of a Server.
const (
	// NoFault: the vault answers normally.
	NoFault Fault = iota
	// Denied: authenticated requests get 403 Forbidden (the identity has no
	// access policy or role on the vault).
	Denied
	// Throttled: authenticated requests get 429 with Retry-After: 1.
	Throttled
	// Unavailable: authenticated requests get 503.
	Unavailable
	// Hung: every request, to the vault or the token endpoint, is accepted
	// and never answered (until the client gives up or the server closes).
	Hung
	// TokenHung: the vault answers (its challenge too) but requests to the
	// token endpoint are never answered.
	TokenHung
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case NoFault:
		return "NoFault"
	case Denied:
		return "Denied"
	case Throttled:
		return "Throttled"
	case Unavailable:
		return "Unavailable"
	case Hung:
		return "Hung"
	case TokenHung:
		return "TokenHung"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// TenantID is the directory the token endpoint serves. Default
	// DefaultTenantID. Use lower case: MSAL lower-cases the authority.
	TenantID string
	// ClientID is the one registered application. Default DefaultClientID.
	ClientID string
	// VaultName is the vault's name. Default DefaultVaultName.
	VaultName string
	// VaultSuffix is the vaults' DNS suffix. Default "vault.azure.net".
	VaultSuffix string
	// ChallengeResource, when set, is the resource every challenge names
	// (and the only audience the vault accepts), whatever host the request
	// used. Default: "https://<VaultSuffix>" for requests to the vault's
	// name, "https://0.0.1:<port>" for requests to 127.0.0.1:<port>.
	ChallengeResource string
	// ClientCertificate is the certificate registered with the application.
	// Default: a new one (RSA key generation takes a moment; tests that start
	// many servers may share one).
	ClientCertificate *ClientCertificate
}

// Server is an in-process Key Vault and token endpoint. Its methods are
// safe for concurrent use.
type Server struct {
	// TenantID is the tenant the token endpoint serves.
	TenantID string
	// ClientID is the registered application's client ID.
	ClientID string
	// ClientSecret is the application's client secret.
	ClientSecret string
	// ClientSecretFile holds ClientSecret (for client_secret_file).
	ClientSecretFile string
	// CertificatePEMFile holds the registered certificate's private key and
	// certificate in one PEM file, like the seed's CertificateFile.
	CertificatePEMFile string
	// CAFile is the PEM certificate of the test CA that issued the server's
	// TLS certificate (for tls.ca_file).
	CAFile string
	// FederatedTokenFile holds a federated token the token endpoint accepts
	// as a client assertion (for workload identity's token_file).
	FederatedTokenFile string

	opts        Options
	ts          *httptest.Server
	cert        *ClientCertificate
	hmacKey     []byte
	caPEM       []byte
	federated   string
	quit        chan struct{}
	closeOnce   sync.Once
	vaultCount  atomic.Int64
	tokenCount  atomic.Int64
	mu          sync.Mutex
	fault       Fault
	secrets     map[string]*entry // by lower-cased name
	tokenTTL    time.Duration
	deletedDays int
}

// NewServer starts a server on 127.0.0.1 and stops it when t ends. Files
// (certificate, CA, secrets) go to t.TempDir().
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("azuretest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func start(dir string, opts Options) (*Server, error) {
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.VaultName == "" {
		opts.VaultName = DefaultVaultName
	}
	if opts.VaultSuffix == "" {
		opts.VaultSuffix = "vault.azure.net"
	}
	cert := opts.ClientCertificate
	if cert == nil {
		c, err := NewClientCertificate()
		if err != nil {
			return nil, err
		}
		cert = c
	}
	s := &Server{
		TenantID:     opts.TenantID,
		ClientID:     opts.ClientID,
		ClientSecret: "azuretest~" + randomHex(16),
		opts:         opts,
		cert:         cert,
		hmacKey:      []byte(randomHex(32)),
		federated:    "federated." + randomHex(24),
		quit:         make(chan struct{}),
		secrets:      map[string]*entry{},
		tokenTTL:     time.Hour,
		deletedDays:  90,
	}
	var err error
	if s.CertificatePEMFile, err = writeFile(dir, "client-certificate.pem", cert.PEM); err != nil {
		return nil, err
	}
	if s.ClientSecretFile, err = writeFile(dir, "client-secret", []byte(s.ClientSecret+"\n")); err != nil {
		return nil, err
	}
	if s.FederatedTokenFile, err = writeFile(dir, "federated-token", []byte(s.federated)); err != nil {
		return nil, err
	}
	ca, err := newCA()
	if err != nil {
		return nil, err
	}
	s.caPEM = ca.pem
	if s.CAFile, err = writeFile(dir, "ca.pem", ca.pem); err != nil {
		return nil, err
	}
	leaf, err := ca.leaf([]string{s.VaultHost(), PublicAuthorityHost, "localhost"},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures of wrong-CA tests
	ts.StartTLS()
	s.ts = ts
	return s, nil
}

// Close stops the server; hung requests are released first. It is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.ts.Close()
	})
}

// Addr returns the listener's address, 127.0.0.1:<port>.
func (s *Server) Addr() string { return s.ts.Listener.Addr().String() }

// URL returns the listener's base URL, https://127.0.0.1:<port>.
func (s *Server) URL() string { return "https://" + s.Addr() }

// VaultHost returns the vault's DNS name, such as "myvault.vault.azure.net".
func (s *Server) VaultHost() string { return s.opts.VaultName + "." + s.opts.VaultSuffix }

// VaultName returns the vault's name.
func (s *Server) VaultName() string { return s.opts.VaultName }

// VaultURL returns the vault's realistic URL, https://<name>.<suffix>; a
// client reaches it through DialContext.
func (s *Server) VaultURL() string { return "https://" + s.VaultHost() }

// LoopbackVaultURL returns https://127.0.0.1:<port>, the vault's URL for
// clients without a custom dialer (see the package documentation).
func (s *Server) LoopbackVaultURL() string { return s.URL() }

// AuthorityHost returns the authority for authority_host,
// https://127.0.0.1:<port>/. Use it with disable_instance_discovery: true.
func (s *Server) AuthorityHost() string { return s.URL() + "/" }

// CACertPEM returns the test CA's certificate, as in CAFile.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// ClientCertificate returns the certificate registered with the application.
func (s *Server) ClientCertificate() *ClientCertificate { return s.cert }

// FederatedToken returns the token the server accepts as a federated
// client assertion (also in FederatedTokenFile).
func (s *Server) FederatedToken() string { return s.federated }

// SetFault makes the vault show f on every request from now on.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

func (s *Server) currentFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// Requests returns the number of requests the vault has received
// (including challenged ones).
func (s *Server) Requests() int64 { return s.vaultCount.Load() }

// TokenRequests returns the number of requests to the token endpoint.
func (s *Server) TokenRequests() int64 { return s.tokenCount.Load() }

// DialContext dials the server for the names it serves: the vault host and
// login.microsoftonline.com on port 443, and localhost or 127.0.0.1 on the
// listener's port. Any other address is refused, so a client configured
// with it never leaves the machine. Use it as the HTTP transport's dialer.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	_, myPort, _ := net.SplitHostPort(s.Addr())
	host = strings.ToLower(host)
	ok := (port == "443" && (host == strings.ToLower(s.VaultHost()) || host == PublicAuthorityHost)) ||
		(port == myPort && (host == "localhost" || host == "127.0.0.1"))
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("azuretest: %s is not served by this test server", addr)}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.Addr())
}

// hang blocks a request until its client gives up or the server closes.
func (s *Server) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.quit:
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	isVault := path == "/secrets" || strings.HasPrefix(path, "/secrets/") || strings.HasPrefix(path, "/deletedsecrets/")
	var tenant, rest string
	if !isVault {
		parts := strings.SplitN(strings.Trim(path, "/"), "/", 2)
		if len(parts) == 2 {
			tenant, rest = parts[0], parts[1]
		}
	}
	switch {
	case isVault:
		s.vaultCount.Add(1)
	case rest == "oauth2/v2.0/token":
		s.tokenCount.Add(1)
	}
	if f := s.currentFault(); f == Hung || (f == TokenHung && rest == "oauth2/v2.0/token") {
		s.hang(r)
		return
	}
	switch {
	case isVault:
		s.serveVault(w, r)
	case path == "/common/discovery/instance":
		s.serveInstanceDiscovery(w, r)
	case rest == "v2.0/.well-known/openid-configuration":
		s.serveOpenIDConfiguration(w, r, tenant)
	case rest == "oauth2/v2.0/token":
		s.serveToken(w, r, tenant)
	default:
		writeVaultError(w, http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
	}
}
