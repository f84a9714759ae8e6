package azure

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/providers/providertest"
)

// Both Config and *Config satisfy the daemon's Validator interface.
var (
	_ interface{ Validate() error } = Config{}
	_ interface{ Validate() error } = (*Config)(nil)
)

// TestConfigYAML decodes every field the way the daemon does (unknown
// fields rejected), and refuses the old spelling of ca_file.
func TestConfigYAML(t *testing.T) {
	const doc = `
vault_name: rpa-prod
vault_suffix: vault.azure.net
cloud: public
authority_host: https://login.microsoftonline.com/
disable_instance_discovery: true
tls:
  ca_file: /etc/ssl/corp-proxy-ca.pem
username_tag: user
writable: true
timeout: 10s
max_attempts: 2
auth:
  mode: client_certificate
  tenant_id: t
  client_id: c
  certificate_file: /etc/sb/sp.pem
  certificate_password_file: /run/sb/pw
  send_certificate_chain: true
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.VaultName != "rpa-prod" || cfg.VaultSuffix != "vault.azure.net" || cfg.Cloud != "public" ||
		cfg.AuthorityHost != "https://login.microsoftonline.com/" || !cfg.DisableInstanceDiscovery ||
		cfg.TLS != (TLSConfig{CAFile: "/etc/ssl/corp-proxy-ca.pem"}) || cfg.UsernameTag != "user" || !cfg.Writable ||
		cfg.Timeout != 10*time.Second || cfg.MaxAttempts != 2 ||
		cfg.Auth != (AuthConfig{Mode: ModeClientCertificate, TenantID: "t", ClientID: "c", CertificateFile: "/etc/sb/sp.pem",
			CertificatePasswordFile: "/run/sb/pw", SendCertificateChain: true}) {
		t.Fatalf("decoded %+v", cfg)
	}
	for _, bad := range []string{"ca_file: /etc/ca.pem\n", "tls: {client_cert_file: /etc/c.pem}\n", "tls: {insecure_skip_verify_this_is_unsafe: true}\n"} {
		dec := yaml.NewDecoder(strings.NewReader("vault_name: rpa\n" + bad))
		dec.KnownFields(true)
		if err := dec.Decode(&Config{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestValidateReportsEveryProblem: a block with several mistakes gets one
// error for each, and New refuses it with the same list.
func TestValidateReportsEveryProblem(t *testing.T) {
	clearAzureEnv(t)
	missing := filepath.Join(t.TempDir(), "missing")
	cfg := Config{
		VaultURL:      "rpa-prod.vault.azure.net",
		VaultName:     "rpa-prod",
		Cloud:         "mars",
		AuthorityHost: "http://login.example",
		Timeout:       -time.Second,
		MaxAttempts:   -1,
		TLS:           TLSConfig{CAFile: missing},
		Auth:          AuthConfig{Mode: ModeClientSecret, ResourceID: "/subscriptions/x"},
	}
	want := []string{"cloud", "vault_url", "authority_host", "timeout", "max_attempts", "tls.ca_file",
		"auth.resource_id", "auth.tenant_id", "auth.client_id", "auth.client_secret_file"}
	providertest.WantConfigFields(t, cfg.Validate(), want...)
	_, err := New(context.Background(), cfg)
	providertest.WantConfigFields(t, err, want...)
	// A certificate mode with its files missing: both reported.
	cfg = Config{VaultName: "rpa-prod", Auth: AuthConfig{Mode: ModeClientCertificate, CertificateFile: missing}}
	providertest.WantConfigFields(t, cfg.Validate(), "auth.tenant_id", "auth.client_id", "auth.certificate_file")
}

// TestValidateMakesNoConnection: Validate builds the credential of every
// mode, as New does, and dials nothing: not the vault, not the authority,
// not the managed identity endpoint.
func TestValidateMakesNoConnection(t *testing.T) {
	clearAzureEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("IDENTITY_ENDPOINT", "http://"+l.Addr().String()+"/msi/token")
	t.Setenv("IMDS_ENDPOINT", "http://"+l.Addr().String())
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, l.Addr().String())
	}
	secretFile := writeTemp(t, "secret", "s3cr3t\n")
	tokenFile := writeTemp(t, "token", "eyJ\n")
	for _, auth := range []AuthConfig{
		{Mode: ModeClientSecret, TenantID: tenant, ClientID: client, ClientSecretFile: secretFile},
		{Mode: ModeManagedIdentity},
		{Mode: ModeManagedIdentity, ClientID: client},
		{Mode: ModeWorkloadIdentity, TenantID: tenant, ClientID: client, TokenFile: tokenFile},
		{Mode: ModeDefault},
	} {
		cfg := Config{VaultURL: "https://rpa.vault.azure.net", AuthorityHost: "https://" + l.Addr().String(), Auth: auth, DialContext: dial}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("mode %s: Validate: %v", auth.Mode, err)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("Validate dialed %d times", n)
	}
	// A connection made around the dialer would be waiting in the backlog.
	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Fatal("Validate connected to the listener")
	}
}
