package hashicorp

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"slices"
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
	// DefaultTimeout bounds one HTTP request to Vault when Config.Timeout
	// is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxAttempts is how many times a request is tried (the first
	// try included) when it fails with a connection error, 412, 429 or
	// 5xx and Config.MaxAttempts is zero.
	DefaultMaxAttempts = 3
	// maxAttempts is the most Config.MaxAttempts may say.
	maxAttempts = 10
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
	// Timeout bounds each HTTP request to Vault, each try of a retried
	// request on its own (the caller's deadline still applies when it is
	// shorter). Default 30s. Example "10s". It is the client's own bound;
	// the daemon's protection block (protection: {timeout, ...} beside this
	// block) bounds the whole call, its retries included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many times the Vault client tries a request that
	// failed with a connection error, 412, 429 or 5xx, the first try
	// included, waiting 1 to 1.5s between tries and only while the deadline
	// leaves room: 1 disables retries, at most 10. Default 0 means 3 (the
	// former max_retries counted the retries only: attempts = retries + 1).
	// These are the client's own retries; the daemon's protection block
	// adds retries with backoff and a circuit breaker around them.
	MaxAttempts int `yaml:"max_attempts"`

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

// TLSConfig configures TLS to Vault. Files are PEM. The cyberark kind's
// tls block has the same fields and meaning.
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
	// credential. For throwaway tests only; New logs a warning. Cannot be
	// combined with CAFile.
	InsecureSkipVerifyThisIsUnsafe bool `yaml:"insecure_skip_verify_this_is_unsafe"`
}

func (t TLSConfig) isSet() bool {
	return t != TLSConfig{}
}

func configErr(field, problem, fix string) error {
	return &providers.ConfigError{Field: field, Problem: problem, Fix: fix}
}

// Validate checks c without contacting Vault and returns every problem
// (joined with errors.Join), each a *providers.ConfigError: the address (an
// http or https URL with a host), the KV mount, path and version, timeout
// and max_attempts, the tls files (readable, a CA bundle with at least one
// certificate, a client certificate that matches its key), and the auth
// method with the fields and files it needs (readable and not empty; a
// token from VAULT_TOKEN when token_file is left out). Credential files
// are read but their content is neither kept nor reported. New makes the
// same checks first.
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize validates c, returning every problem joined, and returns it
// with defaults filled in.
func (c Config) normalize() (Config, error) {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, configErr(field, problem, fix)) }
	scheme := ""
	if problem, fix := checkAddress(c.Address); problem != "" {
		bad("address", problem, fix)
	} else {
		scheme, _, _ = strings.Cut(c.Address, "://")
		if scheme == "http" && c.TLS.isSet() {
			bad("tls", "is set but address uses http://", "use an https:// address or remove the tls block")
		}
	}
	if strings.TrimSpace(c.Namespace) != c.Namespace || strings.ContainsFunc(c.Namespace, unicode.IsControl) {
		bad("namespace", "has surrounding spaces or control characters", `write it as "team/prod"`)
	}
	c.Namespace = strings.Trim(c.Namespace, "/")

	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	var err error
	if c.Mount, err = cleanPath("mount", c.Mount, false); err != nil {
		errs = append(errs, err)
	}
	if c.Path, err = cleanPath("path", c.Path, true); err != nil {
		errs = append(errs, err)
	}
	if c.KVVersion < 0 || c.KVVersion > 2 {
		bad("kv_version", fmt.Sprintf("%d is not a KV version", c.KVVersion), "use 1, 2, or 0 to detect it")
	}
	switch {
	case c.Timeout < 0:
		bad("timeout", "is negative", `use a duration such as "30s", or leave it out for 30s`)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.MaxAttempts < 0 || c.MaxAttempts > maxAttempts:
		bad("max_attempts", fmt.Sprintf("%d is out of range", c.MaxAttempts),
			fmt.Sprintf("use 1 (no retries) to %d, or leave it out for %d", maxAttempts, DefaultMaxAttempts))
	case c.MaxAttempts == 0:
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.backoffMin <= 0 {
		c.backoffMin = time.Second
	}
	if c.backoffMax < c.backoffMin {
		c.backoffMax = max(time.Minute, c.backoffMin)
	}
	errs = append(errs, c.TLS.check()...)
	var authErrs []error
	c.Auth, authErrs = c.Auth.normalize(c, scheme)
	errs = append(errs, authErrs...)
	return c, providers.JoinErrors(errs)
}

// checkAddress returns what is wrong with a Vault address and how to fix
// it, or "".
func checkAddress(addr string) (problem, fix string) {
	const form = `write it as "https://host:port", e.g. "https://vault.example:8200"`
	if addr == "" {
		return "is required", `set the Vault URL, e.g. "https://vault.example:8200"`
	}
	if !strings.Contains(addr, "://") {
		return "has no scheme", form
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return "is not a URL", form
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("scheme %q is not supported", u.Scheme), form
	case u.Host == "" || u.Hostname() == "":
		return "has no host", form
	case u.User != nil:
		return "must not carry credentials", "remove the user:password@ part and configure auth"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not have a query or fragment", form
	}
	return "", ""
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

// check returns a problem for every bad tls setting. It reads the files
// and reports none of their content.
func (t TLSConfig) check() []error {
	var errs []error
	if t.CAFile != "" && t.InsecureSkipVerifyThisIsUnsafe {
		errs = append(errs, configErr("tls.insecure_skip_verify_this_is_unsafe", "contradicts tls.ca_file",
			"remove insecure_skip_verify_this_is_unsafe (ca_file is the safe way to trust a private CA)"))
	}
	if t.ServerName != "" && (strings.ContainsAny(t.ServerName, "/:@ ") || strings.ContainsFunc(t.ServerName, unicode.IsControl)) {
		errs = append(errs, configErr("tls.server_name", "must be a host name", "write the name Vault's certificate lists, e.g. vault.internal"))
	}
	switch {
	case t.ClientCertFile != "" && t.ClientKeyFile == "":
		errs = append(errs, configErr("tls.client_key_file", "is required with client_cert_file", "set both or neither"))
	case t.ClientCertFile == "" && t.ClientKeyFile != "":
		errs = append(errs, configErr("tls.client_cert_file", "is required with client_key_file", "set both or neither"))
	case t.ClientCertFile != "":
		certErr := checkReadable("tls.client_cert_file", t.ClientCertFile)
		keyErr := checkReadable("tls.client_key_file", t.ClientKeyFile)
		errs = appendNonNil(errs, certErr, keyErr)
		if certErr == nil && keyErr == nil {
			if _, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile); err != nil {
				errs = append(errs, configErr("tls.client_cert_file", "and client_key_file are not a matching PEM certificate and key",
					"point client_cert_file at the PEM certificate and client_key_file at its PEM private key"))
			}
		}
	}
	if t.CAFile != "" {
		if err := checkReadable("tls.ca_file", t.CAFile); err != nil {
			errs = append(errs, err)
		} else if b, err := os.ReadFile(t.CAFile); err != nil || !x509.NewCertPool().AppendCertsFromPEM(b) {
			errs = append(errs, configErr("tls.ca_file", "holds no PEM certificate", "point it at a PEM bundle of CA certificates"))
		}
	}
	return errs
}

// checkReadable reports a file that cannot be opened for reading, with the
// reason but not the path's content.
func checkReadable(field, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return configErr(field, "cannot be read: "+providers.FileProblem(err), "check the file exists and is readable by the daemon's user")
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return configErr(field, "is a directory", "point it at a file")
	}
	return nil
}

func appendNonNil(errs []error, more ...error) []error {
	for _, e := range more {
		if e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}

// normalize checks the auth block for its method, returning every
// problem, and fills in its defaults. scheme is the address's ("" when the
// address is wrong, which is reported already).
func (a AuthConfig) normalize(c Config, scheme string) (AuthConfig, []error) {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, configErr(field, problem, fix)) }
	// fields are the settable fields; allowed lists those of each method.
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
			bad("auth.method", "is required", "set token, approle, kubernetes or cert")
		} else {
			bad("auth.method", fmt.Sprintf("%q is not supported", a.Method), "use token, approle, kubernetes or cert")
		}
		return a, errs
	}
	for _, f := range fields {
		if f.value != "" && !slices.Contains(ok, f.name) {
			bad(f.name, fmt.Sprintf("is not used by auth method %q", a.Method), "remove it or choose the method it belongs to")
		}
	}
	if a.Method != MethodToken {
		if a.Mount == "" {
			a.Mount = a.Method
		}
		var err error
		if a.Mount, err = cleanPath("auth.mount", a.Mount, false); err != nil {
			errs = append(errs, err)
		}
	}
	switch a.Method {
	case MethodToken:
		switch {
		case a.TokenFile != "":
			errs = appendNonNil(errs, checkCredentialFile("auth.token_file", a.TokenFile))
		case os.Getenv(envToken) == "":
			bad("auth.token_file", "is not set and neither is the VAULT_TOKEN environment variable", "point token_file at a file holding the token, or set VAULT_TOKEN")
		}
	case MethodAppRole:
		switch {
		case a.RoleID == "" && a.RoleIDFile == "":
			bad("auth.role_id", "approle needs role_id or role_id_file", "set one of them")
		case a.RoleID != "" && a.RoleIDFile != "":
			bad("auth.role_id_file", "role_id and role_id_file are both set", "keep only one")
		case a.RoleIDFile != "":
			errs = appendNonNil(errs, checkCredentialFile("auth.role_id_file", a.RoleIDFile))
		}
		if a.SecretIDFile != "" {
			errs = appendNonNil(errs, checkCredentialFile("auth.secret_id_file", a.SecretIDFile))
		}
	case MethodKubernetes:
		if a.Role == "" {
			bad("auth.role", "is required for the kubernetes method", "name the Vault kubernetes role")
		}
		if a.TokenFile == "" {
			a.TokenFile = DefaultKubernetesTokenFile
		}
		errs = appendNonNil(errs, checkCredentialFile("auth.token_file", a.TokenFile))
	case MethodCert:
		if c.TLS.ClientCertFile == "" && c.TLS.ClientKeyFile == "" {
			bad("tls.client_cert_file", "is required by the cert auth method", "set tls.client_cert_file and tls.client_key_file")
		}
		if scheme == "http" {
			bad("address", "the cert auth method needs an https:// address", "use https")
		}
	}
	return a, errs
}

// checkCredentialFile checks that a credential file can be read and is not
// empty. Its content is neither kept nor reported.
func checkCredentialFile(field, name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return configErr(field, "cannot be read: "+providers.FileProblem(err), "check the file exists and is readable by the daemon's user")
	}
	defer clear(b)
	if len(bytes.TrimSpace(b)) == 0 {
		return configErr(field, "is empty", "write the credential into the file")
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
