package azure

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/secretbroker/secretbroker/providers"
)

// Config configures one Azure Key Vault provider. It is decoded from the
// provider's YAML block with unknown fields rejected. Example, the
// configuration of a service principal with a certificate:
//
//	vault_name: rpa-prod
//	auth:
//	  mode: client_certificate
//	  tenant_id: 00000000-0000-0000-0000-000000000000
//	  client_id: 11111111-1111-1111-1111-111111111111
//	  certificate_file: /etc/secretbroker/azure-sp.pem
type Config struct {
	// VaultURL is the vault's URL, such as "https://rpa-prod.vault.azure.net".
	// Set exactly one of vault_url and vault_name.
	VaultURL string `yaml:"vault_url"`
	// VaultName is the vault's name, such as "rpa-prod"; the URL is then
	// https://<vault_name>.<vault_suffix>. Set exactly one of vault_url and
	// vault_name.
	VaultName string `yaml:"vault_name"`
	// VaultSuffix is the DNS suffix of vaults, used with vault_name only.
	// Default: "vault.azure.net", or the suffix of the cloud named by cloud
	// ("vault.usgovcloudapi.net", "vault.azure.cn").
	VaultSuffix string `yaml:"vault_suffix"`
	// Auth says how the daemon authenticates to Microsoft Entra ID.
	Auth AuthConfig `yaml:"auth"`
	// Cloud names a national cloud: "public" (default), "usgovernment" or
	// "china". It sets the default authority host and vault suffix.
	Cloud string `yaml:"cloud"`
	// AuthorityHost is the Microsoft Entra authority, for sovereign or private
	// clouds, such as "https://login.microsoftonline.us/". It overrides the
	// authority of cloud. Default: the cloud's authority, or the environment
	// variable AZURE_AUTHORITY_HOST, or https://login.microsoftonline.com/.
	AuthorityHost string `yaml:"authority_host"`
	// DisableInstanceDiscovery skips Microsoft Entra instance discovery (a
	// request to login.microsoftonline.com that validates the authority).
	// Set it for private authorities (Azure Stack, disconnected clouds,
	// tests); the configuration is then responsible for naming a trustworthy
	// authority_host. Default false.
	DisableInstanceDiscovery bool `yaml:"disable_instance_discovery"`
	// TLS configures TLS to the vault and the authority. Its only field
	// here is ca_file (Key Vault takes no client certificate, and the
	// certificate names are the SDK's to check).
	TLS TLSConfig `yaml:"tls"`
	// UsernameTag is the name of the secret tag that holds the username of a
	// plain-value secret. Default "username".
	UsernameTag string `yaml:"username_tag"`
	// Writable lets the broker store and delete secrets through this
	// provider (Put = set a new version, Delete = soft delete). The identity
	// then needs the secrets set and delete permissions. Default false.
	Writable bool `yaml:"writable"`
	// Timeout bounds each HTTP request to the vault or the authority, each
	// try of a retried request on its own (the caller's deadline still
	// applies when it is shorter). Default 30s. Example "10s". It is the
	// SDK's own bound per try; the daemon's protection block (protection:
	// {timeout, ...} beside this block) bounds the whole call, its retries
	// included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many times the SDK tries a request that failed
	// with a connection error, 408, 429 or 5xx, the first try included: 1
	// disables retries, at most 10. Default 0: the SDK's 4 (3 retries, the
	// first after 800ms, honouring Retry-After). These are the SDK's own
	// retries; the daemon's protection block adds retries with backoff and
	// a circuit breaker around them.
	MaxAttempts int `yaml:"max_attempts"`

	// DialContext, when set, replaces the dialer of the provider's HTTP
	// transport (tests reach an in-process vault through it).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error) `yaml:"-"`
	// Retry tunes the delays of the SDK's retry policy; the zero value
	// keeps the SDK's defaults (800ms initial delay, 60s at most).
	Retry RetryOptions `yaml:"-"`
}

// TLSConfig configures TLS to Azure.
type TLSConfig struct {
	// CAFile is a PEM bundle of extra certificate authorities trusted for
	// TLS to the vault and the authority, in addition to the system's (for
	// TLS-inspecting proxies, which often leave some hosts uninspected).
	// Unlike the hashicorp and cyberark kinds' ca_file, it does not replace
	// the system roots. Example: /etc/ssl/corp-proxy-ca.pem.
	CAFile string `yaml:"ca_file"`
}

// AuthConfig selects and configures the azidentity credential. Secrets are
// never written here: they are read from files or environment variables.
type AuthConfig struct {
	// Mode is the credential: "default" (the DefaultAzureCredential chain:
	// environment, workload identity, managed identity, Azure CLI...),
	// "client_secret", "client_certificate", "managed_identity" or
	// "workload_identity". Default: "client_certificate" when
	// certificate_file is set, "client_secret" when client_secret_file is
	// set, otherwise "default".
	Mode string `yaml:"mode"`
	// TenantID is the Microsoft Entra tenant (directory) ID, such as
	// "00000000-0000-0000-0000-000000000000". Required for client_secret and
	// client_certificate, default: the environment variable AZURE_TENANT_ID.
	// For workload_identity the same default applies; for default it is
	// optional (the tenant of developer tools and workload identity).
	TenantID string `yaml:"tenant_id"`
	// ClientID is the application (client) ID of the service principal, or of
	// a user-assigned managed identity. Required for client_secret,
	// client_certificate and workload_identity, default: the environment
	// variable AZURE_CLIENT_ID. Optional for managed_identity (default: the
	// system-assigned identity).
	ClientID string `yaml:"client_id"`
	// ClientSecretFile is a file holding the client secret (client_secret
	// mode); a trailing newline is ignored. Default: the environment variable
	// AZURE_CLIENT_SECRET. Example: /run/secrets/azure-client-secret.
	ClientSecretFile string `yaml:"client_secret_file"`
	// CertificateFile is the client certificate (client_certificate mode): a
	// PEM file holding the unencrypted private key and the certificate (as
	// written by "openssl req -x509 -nodes -newkey rsa:2048 -keyout f.pem
	// -out f.pem"), or a PKCS#12 (.pfx) file. Default: the environment
	// variable AZURE_CLIENT_CERTIFICATE_PATH.
	CertificateFile string `yaml:"certificate_file"`
	// CertificatePasswordFile is a file holding the password of a PKCS#12
	// certificate_file; a trailing newline is ignored. Encrypted PEM keys are
	// not supported. Default: none.
	CertificatePasswordFile string `yaml:"certificate_password_file"`
	// SendCertificateChain sends the certificate chain (x5c) with each token
	// request, as Subject Name/Issuer authentication requires. Default false.
	SendCertificateChain bool `yaml:"send_certificate_chain"`
	// ResourceID is the Azure resource ID of a user-assigned managed identity
	// (managed_identity mode), instead of client_id. Example:
	// /subscriptions/…/resourceGroups/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/rpa.
	ResourceID string `yaml:"resource_id"`
	// TokenFile is the file holding the Kubernetes service account token
	// (workload_identity mode). Default: the environment variable
	// AZURE_FEDERATED_TOKEN_FILE, as set by the workload identity webhook.
	TokenFile string `yaml:"token_file"`
}

// RetryOptions tunes the delays of the SDK's retry policy (programmatic
// use and tests); Config.MaxAttempts says how many tries.
type RetryOptions struct {
	// Delay is the initial delay between tries; 0 keeps the SDK default.
	Delay time.Duration
	// MaxDelay caps the delay, including one asked for by a Retry-After
	// header (a longer Retry-After ends the retries); 0 keeps the SDK default.
	MaxDelay time.Duration
}

// The authentication modes of AuthConfig.Mode.
const (
	// ModeDefault is azidentity's DefaultAzureCredential chain.
	ModeDefault = "default"
	// ModeClientSecret is a service principal with a client secret.
	ModeClientSecret = "client_secret"
	// ModeClientCertificate is a service principal with a certificate.
	ModeClientCertificate = "client_certificate"
	// ModeManagedIdentity is the host's system- or user-assigned managed identity.
	ModeManagedIdentity = "managed_identity"
	// ModeWorkloadIdentity is Kubernetes workload identity federation.
	ModeWorkloadIdentity = "workload_identity"
)

// DefaultUsernameTag is the default Config.UsernameTag.
const DefaultUsernameTag = "username"

// DefaultTimeout bounds one try of an HTTP request when Config.Timeout is
// zero.
const DefaultTimeout = 30 * time.Second

// maxAttempts is the most Config.MaxAttempts may say.
const maxAttempts = 10

// Environment variables read for defaults, as azidentity names them.
const (
	envTenantID        = "AZURE_TENANT_ID"
	envClientID        = "AZURE_CLIENT_ID"
	envClientSecret    = "AZURE_CLIENT_SECRET"
	envCertificatePath = "AZURE_CLIENT_CERTIFICATE_PATH"
	envTokenFile       = "AZURE_FEDERATED_TOKEN_FILE"
)

type cloudInfo struct {
	authority, suffix string
}

var clouds = map[string]cloudInfo{
	"public":       {cloud.AzurePublic.ActiveDirectoryAuthorityHost, "vault.azure.net"},
	"usgovernment": {cloud.AzureGovernment.ActiveDirectoryAuthorityHost, "vault.usgovcloudapi.net"},
	"china":        {cloud.AzureChina.ActiveDirectoryAuthorityHost, "vault.azure.cn"},
}

var (
	// Key Vault names: 3-24 characters, letters, digits and '-', starting
	// with a letter, ending with a letter or digit, no "--".
	vaultNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`)
	hostRE      = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)
	tenantRE    = regexp.MustCompile(`^[a-zA-Z0-9.-]+$`)
)

// settings is a validated Config, ready to build clients from.
type settings struct {
	vaultURL    string
	authority   string // "" = SDK default
	usernameTag string
	writable    bool
	client      *http.Client
	transport   *http.Transport
	options     azcore.ClientOptions
	auth        AuthConfig
	disableID   bool
}

func configErr(field, problem, fix string) *providers.ConfigError {
	return &providers.ConfigError{Field: field, Problem: problem, Fix: fix}
}

// Validate checks cfg without contacting Azure and returns every problem
// (joined with errors.Join), each a *providers.ConfigError: the vault
// (exactly one of vault_url and vault_name, each well formed), cloud,
// authority_host, timeout and max_attempts, tls.ca_file (readable, at
// least one certificate), and the auth block: the fields of its mode, the
// tenant and client IDs (from the configuration or the AZURE_*
// environment), and the files of the mode (a client secret file that is
// readable and not empty, or AZURE_CLIENT_SECRET; a certificate file with
// a usable certificate and key; a password file; a token file). When all
// of that holds it builds the credential as New does, which makes no
// request. No file's content is reported.
func (cfg Config) Validate() error {
	_, _, err := cfg.prepare()
	return err
}

// prepare validates cfg and builds its credential: everything New does
// short of the Key Vault client.
func (cfg Config) prepare() (*settings, azcore.TokenCredential, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, nil, err
	}
	cred, err := s.credential()
	if err != nil {
		return nil, nil, err
	}
	return s, cred, nil
}

// validate checks cfg, returning every problem joined, and resolves its
// defaults. It reads ca_file and checks the credential files.
func (cfg Config) validate() (*settings, error) {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, configErr(field, problem, fix)) }
	s := &settings{writable: cfg.Writable, disableID: cfg.DisableInstanceDiscovery}

	var ci cloudInfo
	if cfg.Cloud != "" {
		if c, ok := clouds[strings.ToLower(cfg.Cloud)]; ok {
			ci = c
			s.authority = c.authority
		} else {
			bad("cloud", fmt.Sprintf("unknown cloud %q", cfg.Cloud),
				`use "public", "usgovernment" or "china", or set authority_host and vault_suffix`)
		}
	}

	switch {
	case cfg.VaultURL != "" && cfg.VaultName != "":
		bad("vault_url", "vault_url and vault_name are both set", "set only one of them")
	case cfg.VaultURL == "" && cfg.VaultName == "":
		bad("vault_name", "no vault is configured",
			`set vault_name (such as "rpa-prod") or vault_url (such as "https://rpa-prod.vault.azure.net")`)
	case cfg.VaultURL != "":
		if cfg.VaultSuffix != "" {
			bad("vault_suffix", "vault_suffix only applies to vault_name", "remove vault_suffix, or use vault_name instead of vault_url")
		}
		u, err := url.Parse(cfg.VaultURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			bad("vault_url", "not a vault URL",
				`write the vault's https URL without a path, such as "https://rpa-prod.vault.azure.net"`)
		} else {
			s.vaultURL = "https://" + u.Host
		}
	default:
		if !vaultNameRE.MatchString(cfg.VaultName) || strings.Contains(cfg.VaultName, "--") {
			bad("vault_name", fmt.Sprintf("%q is not a Key Vault name", cfg.VaultName),
				"a vault name has 3-24 letters, digits and single hyphens, starts with a letter and ends with a letter or digit")
		}
		suffix := cfg.VaultSuffix
		if suffix == "" {
			suffix = ci.suffix
		}
		if suffix == "" {
			suffix = "vault.azure.net"
		}
		suffix = strings.TrimPrefix(suffix, ".")
		if !hostRE.MatchString(suffix) {
			bad("vault_suffix", fmt.Sprintf("%q is not a DNS suffix", cfg.VaultSuffix),
				`write a DNS suffix such as "vault.azure.net" or "vault.usgovcloudapi.net"`)
		}
		s.vaultURL = "https://" + strings.ToLower(cfg.VaultName) + "." + suffix
	}

	if cfg.AuthorityHost != "" {
		u, err := url.Parse(cfg.AuthorityHost)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			bad("authority_host", "not an https URL",
				`write the authority's https URL, such as "https://login.microsoftonline.us/"`)
		} else {
			s.authority = strings.TrimSuffix(u.String(), "/") + "/"
		}
	}

	s.usernameTag = cfg.UsernameTag
	if s.usernameTag == "" {
		s.usernameTag = DefaultUsernameTag
	}

	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		bad("timeout", "must not be negative", `write a duration such as "10s", or leave it out for 30s`)
	case timeout == 0:
		timeout = DefaultTimeout
	}
	var retries int32 // 0: the SDK's default
	switch {
	case cfg.MaxAttempts < 0 || cfg.MaxAttempts > maxAttempts:
		bad("max_attempts", fmt.Sprintf("must be between 1 and %d", maxAttempts),
			"write 1 for no retries, or leave it out for the SDK's default of 4")
	case cfg.MaxAttempts == 1:
		retries = -1 // the SDK's spelling of "no retries"
	case cfg.MaxAttempts > 1:
		retries = int32(cfg.MaxAttempts - 1)
	}

	// One HTTP transport for the vault and the authority, so that ca_file
	// and the test dialer apply to both.
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS.CAFile != "" {
		if pem, err := os.ReadFile(cfg.TLS.CAFile); err != nil {
			bad("tls.ca_file", "cannot be read: "+providers.FileProblem(err), "name a readable PEM file of CA certificates")
		} else {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				bad("tls.ca_file", "holds no PEM certificate", "name a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)")
			}
			tr.TLSClientConfig.RootCAs = pool
		}
	}
	if cfg.DialContext != nil {
		tr.DialContext = cfg.DialContext
		tr.Proxy = nil
	}
	s.transport = tr
	s.client = &http.Client{Transport: tr}

	s.options = azcore.ClientOptions{
		Transport: s.client,
		Retry: policy.RetryOptions{
			MaxRetries:    retries,
			TryTimeout:    timeout,
			RetryDelay:    cfg.Retry.Delay,
			MaxRetryDelay: cfg.Retry.MaxDelay,
		},
		Telemetry: policy.TelemetryOptions{ApplicationID: "secretbroker"},
	}
	if s.authority != "" {
		s.options.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: s.authority}
	}

	auth, authErrs := cfg.Auth.resolve()
	errs = append(errs, authErrs...)
	s.auth = auth
	if len(errs) > 0 {
		return nil, providers.JoinErrors(errs)
	}
	return s, nil
}

// envDefault returns v, or the environment variable name's value.
func envDefault(v, name string) string {
	if v != "" {
		return v
	}
	return os.Getenv(name)
}

// resolve checks the auth block for its mode, returning every problem,
// and fills defaults from the environment. It reads the credential files
// of the mode to check them, and keeps none of their content.
func (a AuthConfig) resolve() (AuthConfig, []error) {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, configErr(field, problem, fix)) }
	if a.Mode == "" {
		switch {
		case a.CertificateFile != "":
			a.Mode = ModeClientCertificate
		case a.ClientSecretFile != "":
			a.Mode = ModeClientSecret
		default:
			a.Mode = ModeDefault
		}
	}
	// Fields that belong to each mode; any other set field is a mistake.
	allowed := map[string][]string{
		ModeDefault:           {"tenant_id"},
		ModeClientSecret:      {"tenant_id", "client_id", "client_secret_file"},
		ModeClientCertificate: {"tenant_id", "client_id", "certificate_file", "certificate_password_file", "send_certificate_chain"},
		ModeManagedIdentity:   {"client_id", "resource_id"},
		ModeWorkloadIdentity:  {"tenant_id", "client_id", "token_file"},
	}
	fields, ok := allowed[a.Mode]
	if !ok {
		bad("auth.mode", fmt.Sprintf("unknown mode %q", a.Mode),
			"use default, client_secret, client_certificate, managed_identity or workload_identity")
		return a, errs
	}
	set := map[string]bool{
		"tenant_id":                 a.TenantID != "",
		"client_id":                 a.ClientID != "",
		"client_secret_file":        a.ClientSecretFile != "",
		"certificate_file":          a.CertificateFile != "",
		"certificate_password_file": a.CertificatePasswordFile != "",
		"send_certificate_chain":    a.SendCertificateChain,
		"resource_id":               a.ResourceID != "",
		"token_file":                a.TokenFile != "",
	}
	for _, f := range []string{"tenant_id", "client_id", "client_secret_file", "certificate_file",
		"certificate_password_file", "send_certificate_chain", "resource_id", "token_file"} {
		if set[f] && !contains(fields, f) {
			bad("auth."+f, fmt.Sprintf("does not apply to mode %s", a.Mode),
				fmt.Sprintf("remove it, or set auth.mode to the mode it belongs to (mode %s takes %s)", a.Mode, strings.Join(fields, ", ")))
		}
	}

	checkTenant := func(required bool) {
		if required {
			a.TenantID = envDefault(a.TenantID, envTenantID)
			if a.TenantID == "" {
				bad("auth.tenant_id", "no tenant ID", "set auth.tenant_id to the directory (tenant) ID, or the environment variable "+envTenantID)
				return
			}
		}
		if a.TenantID != "" && !tenantRE.MatchString(a.TenantID) {
			bad("auth.tenant_id", fmt.Sprintf("%q is not a tenant ID", a.TenantID), "write the directory (tenant) ID, a GUID or a domain name")
		}
	}
	needClient := func() {
		a.ClientID = envDefault(a.ClientID, envClientID)
		if a.ClientID == "" {
			bad("auth.client_id", "no client ID", "set auth.client_id to the application (client) ID, or the environment variable "+envClientID)
		}
	}

	switch a.Mode {
	case ModeDefault:
		checkTenant(false)
	case ModeClientSecret:
		checkTenant(true)
		needClient()
		switch {
		case a.ClientSecretFile != "":
			if _, err := readSecretFile("auth.client_secret_file", a.ClientSecretFile); err != nil {
				errs = append(errs, err)
			}
		case os.Getenv(envClientSecret) == "":
			bad("auth.client_secret_file", "no client secret",
				"set auth.client_secret_file to a file holding the secret, or the environment variable "+envClientSecret+"; never write the secret in the configuration")
		}
	case ModeClientCertificate:
		checkTenant(true)
		needClient()
		a.CertificateFile = envDefault(a.CertificateFile, envCertificatePath)
		if a.CertificateFile == "" {
			bad("auth.certificate_file", "no certificate file",
				"set auth.certificate_file to a PEM file holding the private key and the certificate, or the environment variable "+envCertificatePath)
		} else if _, _, err := a.loadCertificate(); err != nil {
			errs = append(errs, err)
		}
	case ModeManagedIdentity:
		if a.ClientID != "" && a.ResourceID != "" {
			bad("auth.resource_id", "client_id and resource_id are both set", "name the user-assigned identity by one of them")
		}
	case ModeWorkloadIdentity:
		checkTenant(true)
		needClient()
		a.TokenFile = envDefault(a.TokenFile, envTokenFile)
		if a.TokenFile == "" {
			bad("auth.token_file", "no service account token file",
				"set auth.token_file, or run with the workload identity webhook, which sets "+envTokenFile)
		} else if f, err := os.Open(a.TokenFile); err != nil {
			bad("auth.token_file", "cannot be read: "+providers.FileProblem(err), "name the projected service account token file")
		} else {
			f.Close()
		}
	}
	return a, errs
}

// loadCertificate reads and parses the client certificate (with its
// password file, if any). Its errors name the field, never the content.
func (a AuthConfig) loadCertificate() ([]*x509.Certificate, crypto.PrivateKey, error) {
	data, err := os.ReadFile(a.CertificateFile)
	if err != nil {
		return nil, nil, configErr("auth.certificate_file", "cannot be read: "+providers.FileProblem(err), "name a readable PEM or PKCS#12 file")
	}
	defer clear(data)
	var password []byte
	if a.CertificatePasswordFile != "" {
		v, err := readSecretFile("auth.certificate_password_file", a.CertificatePasswordFile)
		if err != nil {
			return nil, nil, err
		}
		password = []byte(v)
		defer clear(password)
	}
	// The parse error is not echoed: it could quote the file's content.
	certs, key, err := azidentity.ParseCertificates(data, password)
	if err != nil {
		return nil, nil, configErr("auth.certificate_file", "holds no usable certificate and private key",
			"write a PEM file with an unencrypted private key and its certificate, or a PKCS#12 file with auth.certificate_password_file")
	}
	return certs, key, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// readSecretFile reads a one-line secret file, without its trailing newline.
func readSecretFile(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", configErr(field, "cannot be read: "+providers.FileProblem(err), "name a readable file")
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", configErr(field, "the file is empty", "write the secret into the file")
	}
	return v, nil
}

// credential builds the azidentity credential of s.auth.
func (s *settings) credential() (azcore.TokenCredential, error) {
	a := s.auth
	switch a.Mode {
	case ModeClientSecret:
		secret := os.Getenv(envClientSecret)
		if a.ClientSecretFile != "" {
			v, err := readSecretFile("auth.client_secret_file", a.ClientSecretFile)
			if err != nil {
				return nil, err
			}
			secret = v
		}
		if secret == "" {
			return nil, configErr("auth.client_secret_file", "no client secret",
				"set auth.client_secret_file to a file holding the secret, or the environment variable "+envClientSecret+"; never write the secret in the configuration")
		}
		c, err := azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: s.options, DisableInstanceDiscovery: s.disableID,
		})
		if err != nil {
			return nil, configErr("auth", "cannot build the client secret credential: "+err.Error(), "check auth.tenant_id and auth.client_id")
		}
		return c, nil

	case ModeClientCertificate:
		certs, key, err := a.loadCertificate()
		if err != nil {
			return nil, err
		}
		c, err := azidentity.NewClientCertificateCredential(a.TenantID, a.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions:            s.options,
			DisableInstanceDiscovery: s.disableID,
			SendCertificateChain:     a.SendCertificateChain,
		})
		if err != nil {
			return nil, configErr("auth.certificate_file", "cannot build the client certificate credential: "+err.Error(),
				"use an RSA or ECDSA private key that matches the certificate")
		}
		return c, nil

	case ModeManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: s.options}
		switch {
		case a.ClientID != "":
			o.ID = azidentity.ClientID(a.ClientID)
		case a.ResourceID != "":
			o.ID = azidentity.ResourceID(a.ResourceID)
		}
		c, err := azidentity.NewManagedIdentityCredential(o)
		if err != nil {
			return nil, configErr("auth.mode", "cannot build the managed identity credential: "+err.Error(),
				"run where a managed identity is available, or choose another mode")
		}
		return c, nil

	case ModeWorkloadIdentity:
		c, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions:            s.options,
			ClientID:                 a.ClientID,
			TenantID:                 a.TenantID,
			TokenFilePath:            a.TokenFile,
			DisableInstanceDiscovery: s.disableID,
		})
		if err != nil {
			return nil, configErr("auth.mode", "cannot build the workload identity credential: "+err.Error(),
				"check auth.tenant_id, auth.client_id and auth.token_file")
		}
		return c, nil

	default:
		c, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions:            s.options,
			TenantID:                 a.TenantID,
			DisableInstanceDiscovery: s.disableID,
		})
		if err != nil {
			return nil, configErr("auth.mode", "cannot build the default credential chain: "+err.Error(),
				"configure an identity (environment, workload or managed identity, Azure CLI) or choose another mode")
		}
		return c, nil
	}
}
