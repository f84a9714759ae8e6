package azure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/internal/testpki"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// clearAzureEnv removes the environment defaults so that validation tests
// see only their configuration.
func clearAzureEnv(t *testing.T) {
	for _, k := range []string{envTenantID, envClientID, envClientSecret, envCertificatePath, envTokenFile, "AZURE_AUTHORITY_HOST"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const tenant = "8f1a6b3e-2c4d-4e5f-9a0b-1c2d3e4f5a6b"
const client = "0d6c2f1e-7b8a-4c3d-9e2f-5a6b7c8d9e0f"

func TestConfigErrors(t *testing.T) {
	clearAzureEnv(t)
	secretFile := writeTemp(t, "secret", "s3cr3t-value\n")
	emptyFile := writeTemp(t, "empty", "\n")
	notPEM := writeTemp(t, "notpem", "the private key is hunter2")
	tokenFile := writeTemp(t, "token", "eyJ...")
	missing := filepath.Join(t.TempDir(), "missing")
	certAuth := AuthConfig{TenantID: tenant, ClientID: client, CertificateFile: notPEM}
	leaf := testpki.Must(testpki.Must(testpki.NewCA("test CA")).Issue(testpki.LeafOptions{CommonName: "sp", Client: true}))
	certPEM := testpki.Must(testpki.WritePEM(t.TempDir(), "sp.pem", leaf.KeyPEM, leaf.CertPEM))
	secretAuth := AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientID: client, ClientSecretFile: secretFile}

	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"NoVault", Config{Auth: secretAuth}, "vault_name"},
		{"BothVaults", Config{VaultName: "v1x", VaultURL: "https://v1x.vault.azure.net", Auth: secretAuth}, "vault_url"},
		{"HTTPVaultURL", Config{VaultURL: "http://v1x.vault.azure.net", Auth: secretAuth}, "vault_url"},
		{"VaultURLWithPath", Config{VaultURL: "https://v1x.vault.azure.net/secrets/x", Auth: secretAuth}, "vault_url"},
		{"SuffixWithURL", Config{VaultURL: "https://v1x.vault.azure.net", VaultSuffix: "vault.azure.cn", Auth: secretAuth}, "vault_suffix"},
		{"BadVaultName", Config{VaultName: "my_vault", Auth: secretAuth}, "vault_name"},
		{"ShortVaultName", Config{VaultName: "ab", Auth: secretAuth}, "vault_name"},
		{"DoubleHyphen", Config{VaultName: "my--vault", Auth: secretAuth}, "vault_name"},
		{"BadSuffix", Config{VaultName: "myvault", VaultSuffix: "bad suffix", Auth: secretAuth}, "vault_suffix"},
		{"UnknownCloud", Config{VaultName: "myvault", Cloud: "mars", Auth: secretAuth}, "cloud"},
		{"HTTPAuthority", Config{VaultName: "myvault", AuthorityHost: "http://login.example", Auth: secretAuth}, "authority_host"},
		{"MissingCAFile", Config{VaultName: "myvault", TLS: TLSConfig{CAFile: missing}, Auth: secretAuth}, "tls.ca_file"},
		{"CAFileNotPEM", Config{VaultName: "myvault", TLS: TLSConfig{CAFile: notPEM}, Auth: secretAuth}, "tls.ca_file"},
		{"NegativeTimeout", Config{VaultName: "myvault", Timeout: -time.Second, Auth: secretAuth}, "timeout"},
		{"NegativeAttempts", Config{VaultName: "myvault", MaxAttempts: -1, Auth: secretAuth}, "max_attempts"},
		{"TooManyAttempts", Config{VaultName: "myvault", MaxAttempts: 11, Auth: secretAuth}, "max_attempts"},
		{"UnknownMode", Config{VaultName: "myvault", Auth: AuthConfig{Mode: "password"}}, "auth.mode"},
		{"SecretNoTenant", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, ClientID: client, ClientSecretFile: secretFile}}, "auth.tenant_id"},
		{"SecretBadTenant", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: "a/b", ClientID: client, ClientSecretFile: secretFile}}, "auth.tenant_id"},
		{"SecretNoClient", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientSecretFile: secretFile}}, "auth.client_id"},
		{"SecretNoSecret", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientID: client}}, "auth.client_secret_file"},
		{"SecretEmptyFile", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientID: client, ClientSecretFile: emptyFile}}, "auth.client_secret_file"},
		{"SecretMissingFile", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientID: client, ClientSecretFile: missing}}, "auth.client_secret_file"},
		{"SecretWithCertificate", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientID: client, ClientSecretFile: secretFile, CertificateFile: notPEM}}, "auth.certificate_file"},
		{"CertNotPEM", Config{VaultName: "myvault", Auth: certAuth}, "auth.certificate_file"},
		{"CertMissing", Config{VaultName: "myvault", Auth: AuthConfig{TenantID: tenant, ClientID: client, CertificateFile: missing}}, "auth.certificate_file"},
		{"CertNoFile", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientCertificate, TenantID: tenant, ClientID: client}}, "auth.certificate_file"},
		{"CertNoTenant", Config{VaultName: "myvault", Auth: AuthConfig{ClientID: client, CertificateFile: certPEM}}, "auth.tenant_id"},
		{"CertPasswordMissing", Config{VaultName: "myvault", Auth: AuthConfig{TenantID: tenant, ClientID: client, CertificateFile: notPEM, CertificatePasswordFile: missing}}, "auth.certificate_password_file"},
		{"ChainWithSecret", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeClientSecret, TenantID: tenant, ClientID: client, ClientSecretFile: secretFile, SendCertificateChain: true}}, "auth.send_certificate_chain"},
		{"ManagedBothIDs", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeManagedIdentity, ClientID: client, ResourceID: "/subscriptions/x"}}, "auth.resource_id"},
		{"ManagedWithTenant", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeManagedIdentity, TenantID: tenant}}, "auth.tenant_id"},
		{"WorkloadNoToken", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeWorkloadIdentity, TenantID: tenant, ClientID: client}}, "auth.token_file"},
		{"WorkloadMissingToken", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeWorkloadIdentity, TenantID: tenant, ClientID: client, TokenFile: missing}}, "auth.token_file"},
		{"WorkloadNoClient", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeWorkloadIdentity, TenantID: tenant, TokenFile: tokenFile}}, "auth.client_id"},
		{"DefaultWithClientSecretFile", Config{VaultName: "myvault", Auth: AuthConfig{Mode: ModeDefault, ClientSecretFile: secretFile}}, "auth.client_secret_file"},
		{"DefaultWithResourceID", Config{VaultName: "myvault", Auth: AuthConfig{ResourceID: "/subscriptions/x"}}, "auth.resource_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			providertest.WantConfigFields(t, c.cfg.Validate(), c.field)
			p, err := New(context.Background(), c.cfg)
			if err == nil {
				p.Close()
				t.Fatalf("New accepted the configuration")
			}
			var ce *providers.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v, want *providers.ConfigError", err, err)
			}
			if ce.Field != c.field {
				t.Errorf("Field %q, want %q (%v)", ce.Field, c.field, err)
			}
			if ce.Problem == "" || ce.Fix == "" {
				t.Errorf("ConfigError without problem or fix: %#v", ce)
			}
			for _, leak := range []string{"s3cr3t-value", "hunter2"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error quotes a credential file: %v", err)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	clearAzureEnv(t)
	secretFile := writeTemp(t, "secret", "s3cr3t\n")
	cases := []struct {
		name      string
		cfg       Config
		vaultURL  string
		authority string
		mode      string
	}{
		{"VaultName", Config{VaultName: "RPA-prod", Auth: AuthConfig{TenantID: tenant, ClientID: client, ClientSecretFile: secretFile}},
			"https://rpa-prod.vault.azure.net", "", ModeClientSecret},
		{"USGov", Config{VaultName: "rpa", Cloud: "usgovernment", Auth: AuthConfig{}},
			"https://rpa.vault.usgovcloudapi.net", "https://login.microsoftonline.us/", ModeDefault},
		{"China", Config{VaultName: "rpa", Cloud: "China"},
			"https://rpa.vault.azure.cn", "https://login.chinacloudapi.cn/", ModeDefault},
		{"AuthorityOverridesCloud", Config{VaultName: "rpa", Cloud: "usgovernment", AuthorityHost: "https://login.example.test"},
			"https://rpa.vault.usgovcloudapi.net", "https://login.example.test/", ModeDefault},
		{"Suffix", Config{VaultName: "rpa", VaultSuffix: ".vault.private.test"},
			"https://rpa.vault.private.test", "", ModeDefault},
		{"URLTrailingSlash", Config{VaultURL: "https://rpa.vault.azure.net/", Auth: AuthConfig{Mode: ModeManagedIdentity, ClientID: client}},
			"https://rpa.vault.azure.net", "", ModeManagedIdentity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := c.cfg.validate()
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if s.vaultURL != c.vaultURL || s.authority != c.authority || s.auth.Mode != c.mode {
				t.Errorf("got %q %q %q, want %q %q %q", s.vaultURL, s.authority, s.auth.Mode, c.vaultURL, c.authority, c.mode)
			}
			if s.usernameTag != DefaultUsernameTag {
				t.Errorf("username tag %q", s.usernameTag)
			}
		})
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	clearAzureEnv(t)
	t.Setenv(envTenantID, tenant)
	t.Setenv(envClientID, client)
	t.Setenv(envClientSecret, "from-env")
	p, err := New(context.Background(), Config{VaultName: "rpa", Auth: AuthConfig{Mode: ModeClientSecret}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p.Close()
	// Managed identity and the default chain build without any setting.
	for _, mode := range []string{ModeManagedIdentity, ModeDefault} {
		p, err := New(context.Background(), Config{VaultName: "rpa", Auth: AuthConfig{Mode: mode}})
		if err != nil {
			t.Fatalf("New mode %s: %v", mode, err)
		}
		p.Close()
	}
}
