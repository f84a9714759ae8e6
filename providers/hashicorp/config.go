package hashicorp

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/secretbroker/secretbroker/providers"
)

// The authentication methods of AuthConfig.Method.
const (
	// MethodToken uses a Vault token read from AuthConfig.TokenFile, or from
	// the VAULT_TOKEN environment variable when no file is configured.
	MethodToken = "token"
	// MethodAppRole logs in with an AppRole role ID and secret ID.
	MethodAppRole = "approle"
	// MethodKubernetes logs in with the pod's service account token.
	MethodKubernetes = "kubernetes"
	// MethodCert logs in with the TLS client certificate of TLSConfig.
	MethodCert = "cert"
)

// Defaults applied by New to fields left empty.
const (
	// DefaultMount is the KV mount used when Config.Mount is empty.
	DefaultMount = "secret"
	// DefaultKubernetesTokenFile is where Kubernetes mounts a pod's service
	// account token; the kubernetes method reads it when
	// AuthConfig.TokenFile is empty.
	DefaultKubernetesTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	// DefaultRequestTimeout bounds one HTTP request to Vault when
	// Config.RequestTimeout is zero.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxRetries is the number of retries of a request that failed
	// with a connection error, 412, 429 or 5xx when Config.MaxRetries is
	// zero.
	DefaultMaxRetries = 2
)

// envToken is the environment variable the token method reads when no
// token_file is configured.
const envToken = "VAULT_TOKEN"

// Config configures one Vault KV provider. It is decoded from the daemon's
// YAML with unknown fields rejected. No credential is ever written inline:
// tokens, secret IDs and keys come from files or the environment.
type Config struct {
	// Address is the Vault server's URL with scheme and port, for example
	// "https://vault.example:8200". Required. http:// is accepted (for a
	// local Vault agent or tests) but then no tls setting may be given.
	Address string `yaml:"address"`
	// Namespace is the Vault Enterprise namespace every request, login
	// included, is sent to (the X-Vault-Namespace header), for example
	// "rpa/prod". Empty: the root namespace; the VAULT_NAMESPACE
	// environment variable is ignored.
	Namespace string `yaml:"namespace"`
	// Mount is the path the KV secrets engine is mounted at, without
	// slashes at either end. Default "secret". Example "kv-rpa".
	Mount string `yaml:"mount"`
	// Path is an optional folder under the mount that holds this provider's
	// secrets, for example "rpa/credentials". The secret for an encoded name
	// N is <mount>/data/<path>/N on KV v2 and <mount>/<path>/N on KV v1.
	// Default "": secrets live directly under the mount.
	Path string `yaml:"path"`
	// KVVersion is the KV engine version of the mount: 1 or 2. Default 0
	// detects it from sys/internal/ui/mounts/<mount> at the first
	// connection, which needs a token allowed to see the mount; set it when
	// the token's policy does not allow that.
	KVVersion int `yaml:"kv_version"`
	// Auth says how the provider logs in to Vault. Required.
	Auth AuthConfig `yaml:"auth"`
	// TLS configures the connection to an https:// address. Default: the
	// system's root CAs and the host name of Address.
	TLS TLSConfig `yaml:"tls"`
	// Writable allows Put and Delete through this provider. Default false:
	// the provider only reads and Put/Delete fail with FailedPrecondition.
	// On KV v2 Delete is a soft delete of the latest version (Vault keeps
	// the history and can undelete it); on KV v1 Delete removes the secret.
	Writable bool `yaml:"writable"`
	// RequestTimeout bounds each HTTP request to Vault (the caller's
	// deadline still applies when it is shorter). Default 30s. Example
	// "10s".
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxRetries is how many times a request that failed with a connection
	// error, 412, 429 or 5xx is retried, waiting 1 to 1.5s between tries,
	// and only while the deadline leaves room. Default 0 means 2; -1
	// disables retries.
	MaxRetries int `yaml:"max_retries"`

	// backoffMin and backoffMax bound the wait between background logins
	// (tests shorten them); zero means 1s and 1m.
	backoffMin, backoffMax time.Duration
}

// AuthConfig says how the provider logs in. Only the fields of the chosen
// method may be set.
type AuthConfig struct {
	// Method is "token", "approle", "kubernetes" or "cert". Required.
	Method string `yaml:"method"`
	// Mount is where the auth method is mounted, without slashes. Default
	// "approle", "kubernetes" or "cert" after the method; not used by
	// "token".
	Mount string `yaml:"mount"`
	// TokenFile is, for method "token", a file holding the Vault token
	// (re-read when the token stops working, so an agent may rotate it;
	// default: the VAULT_TOKEN environment variable), and for method
	// "kubernetes", the service account token file (default
	// /var/run/secrets/kubernetes.io/serviceaccount/token).
	TokenFile string `yaml:"token_file"`
	// RoleID is the AppRole role ID (not a secret). Method "approle" needs
	// RoleID or RoleIDFile.
	RoleID string `yaml:"role_id"`
	// RoleIDFile is a file holding the AppRole role ID, read at each login.
	RoleIDFile string `yaml:"role_id_file"`
	// SecretIDFile is a file holding the AppRole secret ID, read at each
	// login so it can be rotated. Leave empty only for roles created with
	// bind_secret_id=false.
	SecretIDFile string `yaml:"secret_id_file"`
	// Role is the Vault role to log in as with method "kubernetes".
	// Required for that method.
	Role string `yaml:"role"`
	// Name is the certificate role to log in as with method "cert";
	// default "": Vault tries every role that trusts the certificate. The
	// certificate is tls.client_cert_file, which that method requires.
	Name string `yaml:"name"`
}

// TLSConfig configures TLS to Vault. Files are PEM.
type TLSConfig struct {
	// CAFile is a PEM bundle of CA certificates that sign Vault's server
	// certificate. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name expected in Vault's certificate when it differs
	// from the host of Address, for example "vault.internal".
	ServerName string `yaml:"server_name"`
	// ClientCertFile is a client certificate presented to Vault (mutual TLS,
	// and the identity of the "cert" auth method). Needs ClientKeyFile.
	ClientCertFile string `yaml:"client_cert_file"`
	// ClientKeyFile is the private key of ClientCertFile.
	ClientKeyFile string `yaml:"client_key_file"`
	// InsecureSkipVerifyThisIsUnsafe turns off verification of Vault's
	// certificate: anyone on the network path can then read every
	// credential. For throwaway tests only; New logs a warning.
	InsecureSkipVerifyThisIsUnsafe bool `yaml:"insecure_skip_verify_this_is_unsafe"`
}

func (t TLSConfig) isSet() bool {
	return t != TLSConfig{}
}

func configErr(field, problem, fix string) error {
	return &providers.ConfigError{Field: field, Problem: problem, Fix: fix}
}

// normalize validates c and returns it with defaults filled in.
func (c Config) normalize() (Config, error) {
	if c.Address == "" {
		return c, configErr("address", "is required", `set the Vault URL, e.g. "https://vault.example:8200"`)
	}
	u, err := url.Parse(c.Address)
	switch {
	case err != nil:
		return c, configErr("address", "is not a URL", `write it as "https://host:port"`)
	case u.Scheme != "https" && u.Scheme != "http":
		return c, configErr("address", fmt.Sprintf("scheme %q is not supported", u.Scheme), `use "https://host:port"`)
	case u.Host == "":
		return c, configErr("address", "has no host", `write it as "https://host:port"`)
	case u.User != nil:
		return c, configErr("address", "must not carry credentials", "remove the user:password@ part and configure auth")
	case u.RawQuery != "" || u.Fragment != "":
		return c, configErr("address", "must not have a query or fragment", `write it as "https://host:port"`)
	}
	if u.Scheme == "http" && c.TLS.isSet() {
		return c, configErr("tls", "is set but address uses http://", "use an https:// address or remove the tls block")
	}
	if strings.TrimSpace(c.Namespace) != c.Namespace || strings.ContainsFunc(c.Namespace, unicode.IsControl) {
		return c, configErr("namespace", "has surrounding spaces or control characters", `write it as "team/prod"`)
	}
	c.Namespace = strings.Trim(c.Namespace, "/")

	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.Mount, err = cleanPath("mount", c.Mount, false); err != nil {
		return c, err
	}
	if c.Path, err = cleanPath("path", c.Path, true); err != nil {
		return c, err
	}
	if c.KVVersion < 0 || c.KVVersion > 2 {
		return c, configErr("kv_version", fmt.Sprintf("%d is not a KV version", c.KVVersion), "use 1, 2, or 0 to detect it")
	}
	switch {
	case c.RequestTimeout < 0:
		return c, configErr("request_timeout", "is negative", `use a duration such as "30s"`)
	case c.RequestTimeout == 0:
		c.RequestTimeout = DefaultRequestTimeout
	}
	switch {
	case c.MaxRetries < -1 || c.MaxRetries > 10:
		return c, configErr("max_retries", fmt.Sprintf("%d is out of range", c.MaxRetries), "use 0 (default 2), -1 (no retries) or up to 10")
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries == -1:
		c.MaxRetries = 0
	}
	if c.backoffMin <= 0 {
		c.backoffMin = time.Second
	}
	if c.backoffMax < c.backoffMin {
		c.backoffMax = max(time.Minute, c.backoffMin)
	}
	if err := c.TLS.validate(); err != nil {
		return c, err
	}
	if c.Auth, err = c.Auth.normalize(c); err != nil {
		return c, err
	}
	return c, nil
}

// cleanPath trims slashes at both ends of a Vault path and rejects empty,
// "." and ".." elements and control characters.
func cleanPath(field, p string, allowEmpty bool) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		if allowEmpty {
			return "", nil
		}
		return "", configErr(field, "is empty", "name the path, e.g. \"secret\"")
	}
	if strings.ContainsFunc(p, unicode.IsControl) {
		return "", configErr(field, "contains control characters", "remove them")
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." || strings.TrimSpace(e) != e {
			return "", configErr(field, fmt.Sprintf("has an unusable path element %q", e), `write it as "a/b" without empty, ".", ".." or space-padded elements`)
		}
	}
	return p, nil
}

func (t TLSConfig) validate() error {
	if (t.ClientCertFile == "") != (t.ClientKeyFile == "") {
		return configErr("tls.client_key_file", "client_cert_file and client_key_file go together", "set both or neither")
	}
	if t.ClientCertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile); err != nil {
			return configErr("tls.client_cert_file", "cannot load the client certificate and key", "check both files exist, are readable and are a matching PEM pair")
		}
	}
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return configErr("tls.ca_file", "cannot be read", "check the file exists and is readable by the daemon")
		}
		if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			return configErr("tls.ca_file", "holds no PEM certificate", "point it at a PEM bundle of CA certificates")
		}
	}
	return nil
}

func (a AuthConfig) normalize(c Config) (AuthConfig, error) {
	// used lists the fields each method may set.
	type field struct {
		name, value string
	}
	fields := []field{
		{"auth.mount", a.Mount},
		{"auth.token_file", a.TokenFile},
		{"auth.role_id", a.RoleID},
		{"auth.role_id_file", a.RoleIDFile},
		{"auth.secret_id_file", a.SecretIDFile},
		{"auth.role", a.Role},
		{"auth.name", a.Name},
	}
	allowed := map[string][]string{
		MethodToken:      {"auth.token_file"},
		MethodAppRole:    {"auth.mount", "auth.role_id", "auth.role_id_file", "auth.secret_id_file"},
		MethodKubernetes: {"auth.mount", "auth.token_file", "auth.role"},
		MethodCert:       {"auth.mount", "auth.name"},
	}
	ok, known := allowed[a.Method]
	if !known {
		if a.Method == "" {
			return a, configErr("auth.method", "is required", "set token, approle, kubernetes or cert")
		}
		return a, configErr("auth.method", fmt.Sprintf("%q is not supported", a.Method), "use token, approle, kubernetes or cert")
	}
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		used := false
		for _, n := range ok {
			used = used || n == f.name
		}
		if !used {
			return a, configErr(f.name, fmt.Sprintf("is not used by auth method %q", a.Method), "remove it or choose the method it belongs to")
		}
	}
	if a.Method != MethodToken {
		if a.Mount == "" {
			a.Mount = a.Method
		}
		var err error
		if a.Mount, err = cleanPath("auth.mount", a.Mount, false); err != nil {
			return a, err
		}
	}
	switch a.Method {
	case MethodToken:
		if a.TokenFile == "" {
			if os.Getenv(envToken) == "" {
				return a, configErr("auth.token_file", "is not set and neither is the VAULT_TOKEN environment variable", "point token_file at a file holding the token, or set VAULT_TOKEN")
			}
			break
		}
		if err := checkCredentialFile("auth.token_file", a.TokenFile); err != nil {
			return a, err
		}
	case MethodAppRole:
		switch {
		case a.RoleID == "" && a.RoleIDFile == "":
			return a, configErr("auth.role_id", "approle needs role_id or role_id_file", "set one of them")
		case a.RoleID != "" && a.RoleIDFile != "":
			return a, configErr("auth.role_id_file", "role_id and role_id_file are both set", "keep only one")
		case a.RoleIDFile != "":
			if err := checkCredentialFile("auth.role_id_file", a.RoleIDFile); err != nil {
				return a, err
			}
		}
		if a.SecretIDFile != "" {
			if err := checkCredentialFile("auth.secret_id_file", a.SecretIDFile); err != nil {
				return a, err
			}
		}
	case MethodKubernetes:
		if a.Role == "" {
			return a, configErr("auth.role", "is required for the kubernetes method", "name the Vault kubernetes role")
		}
		if a.TokenFile == "" {
			a.TokenFile = DefaultKubernetesTokenFile
		}
		if err := checkCredentialFile("auth.token_file", a.TokenFile); err != nil {
			return a, err
		}
	case MethodCert:
		if c.TLS.ClientCertFile == "" {
			return a, configErr("tls.client_cert_file", "is required by the cert auth method", "set tls.client_cert_file and tls.client_key_file")
		}
		if !strings.HasPrefix(c.Address, "https://") {
			return a, configErr("address", "the cert auth method needs an https:// address", "use https")
		}
	}
	return a, nil
}

// checkCredentialFile checks that a credential file can be read and is not
// empty. Its content is neither kept nor reported.
func checkCredentialFile(field, name string) error {
	if _, err := readCredential(name); err != nil {
		return configErr(field, "cannot be read or is empty", "check the file exists, is readable by the daemon and holds the credential")
	}
	return nil
}

// readCredential returns the trimmed content of a credential file.
func readCredential(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("credential file is empty")
	}
	return s, nil
}
