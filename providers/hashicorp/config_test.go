package hashicorp

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/internal/testpki"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// Both Config and *Config satisfy the daemon's Validator interface.
var (
	_ interface{ Validate() error } = Config{}
	_ interface{ Validate() error } = (*Config)(nil)
)

// TestConfigYAML decodes every field the way the daemon does (unknown
// fields rejected), and refuses the old spellings.
func TestConfigYAML(t *testing.T) {
	const doc = `
address: https://vault.example:8200
namespace: rpa/prod
mount: kv-rpa
path: rpa/credentials
kv_version: 2
writable: true
timeout: 10s
max_attempts: 4
auth:
  method: approle
  mount: approle-prod
  role_id_file: /etc/sb/role-id
  secret_id_file: /run/sb/secret-id
tls:
  ca_file: /etc/sb/ca.pem
  server_name: vault.internal
  client_cert_file: /etc/sb/client.pem
  client_key_file: /etc/sb/client-key.pem
  insecure_skip_verify_this_is_unsafe: false
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := Config{Address: "https://vault.example:8200", Namespace: "rpa/prod", Mount: "kv-rpa", Path: "rpa/credentials",
		KVVersion: 2, Writable: true, Timeout: 10 * time.Second, MaxAttempts: 4,
		Auth: AuthConfig{Method: MethodAppRole, Mount: "approle-prod", RoleIDFile: "/etc/sb/role-id", SecretIDFile: "/run/sb/secret-id"},
		TLS: TLSConfig{CAFile: "/etc/sb/ca.pem", ServerName: "vault.internal", ClientCertFile: "/etc/sb/client.pem",
			ClientKeyFile: "/etc/sb/client-key.pem"}}
	if cfg != want {
		t.Fatalf("decoded %+v\nwant    %+v", cfg, want)
	}
	for _, old := range []string{"request_timeout: 10s\n", "max_retries: 2\n"} {
		dec := yaml.NewDecoder(strings.NewReader("address: https://v:8200\n" + old))
		dec.KnownFields(true)
		if err := dec.Decode(&Config{}); err == nil {
			t.Errorf("old spelling %q accepted", old)
		}
	}
}

// TestValidateReportsEveryProblem: a block with several mistakes gets one
// error for each, and New refuses it with the same list.
func TestValidateReportsEveryProblem(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "")
	missing := filepath.Join(t.TempDir(), "missing")
	cfg := Config{
		Address:     "vault.example:8200",
		Namespace:   " rpa",
		Mount:       "a//b",
		Path:        "x/../y",
		KVVersion:   3,
		Timeout:     -time.Second,
		MaxAttempts: -1,
		TLS:         TLSConfig{CAFile: missing, InsecureSkipVerifyThisIsUnsafe: true, ClientKeyFile: missing},
		Auth:        AuthConfig{Method: MethodAppRole, Role: "r", SecretIDFile: missing},
	}
	want := []string{"address", "namespace", "mount", "path", "kv_version", "timeout", "max_attempts",
		"tls.insecure_skip_verify_this_is_unsafe", "tls.client_cert_file", "tls.ca_file",
		"auth.role", "auth.role_id", "auth.secret_id_file"}
	providertest.WantConfigFields(t, cfg.Validate(), want...)
	_, err := New(ctxT(t), cfg, nil)
	providertest.WantConfigFields(t, err, want...)
}

func TestValidateAddress(t *testing.T) {
	tokenFile := writeFile(t, "token", "tok")
	for addr, problem := range map[string]string{
		"":                            "is required",
		"vault.example:8200":          "has no scheme",
		"127.0.0.1:8200":              "has no scheme",
		"ftp://vault.example":         `scheme "ftp" is not supported`,
		"https://":                    "has no host",
		"https://:8200":               "has no host",
		"https://u:p@vault:8200":      "must not carry credentials",
		"https://vault:8200/?x=1":     "must not have a query or fragment",
		"https://vault:8200/#top":     "must not have a query or fragment",
		"https://vault.example:8200":  "",
		"http://127.0.0.1:8200":       "",
		"https://[::1]:8200":          "",
		"https://vault.example:8200/": "",
	} {
		err := Config{Address: addr, Auth: AuthConfig{Method: MethodToken, TokenFile: tokenFile}}.Validate()
		if problem == "" {
			if err != nil {
				t.Errorf("%q refused: %v", addr, err)
			}
			continue
		}
		var ce *providers.ConfigError
		if !errors.As(err, &ce) || ce.Field != "address" || ce.Problem != problem || ce.Fix == "" {
			t.Errorf("%q: got %v, want address: %s", addr, err, problem)
		}
	}
}

func TestValidateFiles(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "")
	dir := t.TempDir()
	const secret = "s.3cr3t-token-value"
	tokenFile := writeFile(t, "token", secret+"\n")
	empty := writeFile(t, "empty", " \n")
	ca := testpki.Must(testpki.NewCA("test CA"))
	caFile := writeFile(t, "ca.pem", string(ca.CertPEM()))
	client := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "rpa-client", Client: true}))
	certFile, keyFile, err := client.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	other := testpki.Must(testpki.Must(testpki.NewCA("other CA")).Issue(testpki.LeafOptions{CommonName: "x", Client: true}))
	_, otherKey, err := other.WriteFiles(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	fakeCA := writeFile(t, "fake-ca.pem", "-----BEGIN CERTIFICATE-----\n"+secret+"\n-----END CERTIFICATE-----\n")
	good := Config{Address: "https://vault.example:8200", Auth: AuthConfig{Method: MethodToken, TokenFile: tokenFile}}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"token file", func(c *Config) {}, ""},
		{"ca and client pair", func(c *Config) {
			c.TLS = TLSConfig{CAFile: caFile, ClientCertFile: certFile, ClientKeyFile: keyFile}
		}, ""},
		{"cert method", func(c *Config) {
			c.TLS = TLSConfig{ClientCertFile: certFile, ClientKeyFile: keyFile}
			c.Auth = AuthConfig{Method: MethodCert}
		}, ""},
		{"empty token file", func(c *Config) { c.Auth.TokenFile = empty }, "auth.token_file"},
		{"token file is a directory", func(c *Config) { c.Auth.TokenFile = dir }, "auth.token_file"},
		{"ca bundle without a certificate", func(c *Config) { c.TLS.CAFile = tokenFile }, "tls.ca_file"},
		{"ca bundle with a broken certificate", func(c *Config) { c.TLS.CAFile = fakeCA }, "tls.ca_file"},
		{"ca file is a directory", func(c *Config) { c.TLS.CAFile = dir }, "tls.ca_file"},
		{"client key of another certificate", func(c *Config) {
			c.TLS = TLSConfig{ClientCertFile: certFile, ClientKeyFile: otherKey}
		}, "tls.client_cert_file"},
		{"client key missing", func(c *Config) {
			c.TLS = TLSConfig{ClientCertFile: certFile, ClientKeyFile: filepath.Join(dir, "nope")}
		}, "tls.client_key_file"},
		{"insecure with ca file", func(c *Config) {
			c.TLS = TLSConfig{CAFile: caFile, InsecureSkipVerifyThisIsUnsafe: true}
		}, "tls.insecure_skip_verify_this_is_unsafe"},
		{"server name with a port", func(c *Config) { c.TLS.ServerName = "vault.internal:8200" }, "tls.server_name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			err := cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			providertest.WantConfigFields(t, err, c.field)
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows a file's content: %v", err)
			}
		})
	}
	// The cert method needs https, and so a tls block.
	err = Config{Address: "http://127.0.0.1:8200", Auth: AuthConfig{Method: MethodCert}}.Validate()
	providertest.WantConfigFields(t, err, "tls.client_cert_file", "address")
	// The token method without token_file takes VAULT_TOKEN.
	good.Auth.TokenFile = ""
	providertest.WantConfigFields(t, good.Validate(), "auth.token_file")
	t.Setenv("VAULT_TOKEN", secret)
	if err := good.Validate(); err != nil {
		t.Fatalf("token from VAULT_TOKEN refused: %v", err)
	}
}

// TestValidateMakesNoConnection: Validate of a complete configuration
// whose address is a listener on loopback leaves it untouched.
func TestValidateMakesNoConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, method := range []AuthConfig{
		{Method: MethodToken, TokenFile: writeFile(t, "token", "tok")},
		{Method: MethodAppRole, RoleID: "r"},
	} {
		cfg := Config{Address: "http://" + l.Addr().String(), Auth: method}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}
	// A connection Validate made would be waiting in the backlog.
	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Fatal("Validate connected to the vault address")
	}
}

// TestValidateKubernetesDefaultTokenFile: the kubernetes method's default
// token file is checked like a configured one.
func TestValidateKubernetesDefaultTokenFile(t *testing.T) {
	if _, err := os.Stat(DefaultKubernetesTokenFile); err == nil {
		t.Skip("running in a pod: the default token file exists")
	}
	err := Config{Address: "https://v:8200", Auth: AuthConfig{Method: MethodKubernetes, Role: "r"}}.Validate()
	providertest.WantConfigFields(t, err, "auth.token_file")
}
