package cyberark

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/secretbroker/secretbroker/providers"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultWebService is the IIS application CCP is installed as.
	DefaultWebService = "AIMWebService"
	// DefaultFolder is the folder CCP looks in when none is given.
	DefaultFolder = "Root"
	// DefaultTimeout bounds one HTTP request to CCP.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxAttempts is how many times Get asks while a password is
	// being changed.
	DefaultMaxAttempts = 3
	// DefaultBackoff is the first wait between those attempts.
	DefaultBackoff = 500 * time.Millisecond
	// DefaultCheckSafe is the Safe Check asks in when Config.CheckSafe is
	// empty. It need not exist.
	DefaultCheckSafe = "SecretBrokerHealthCheck"
)

// Limits enforced by New.
const (
	maxAttempts          = 10
	maxConnectionTimeout = 600
)

// Config configures one CyberArk CCP provider instance: one CCP endpoint and
// one AppID. It is decoded from the daemon's YAML with unknown fields
// rejected. Credentials are never inline: the client certificate and key are
// read from files.
//
// Example:
//
//	providers:
//	  ark:
//	    cyberark:
//	      url: https://ccp.example.com
//	      app_id: secretbroker
//	      tls:
//	        client_cert_file: /etc/secretbroker/ccp-client.pem
//	        client_key_file: /etc/secretbroker/ccp-client-key.pem
//	        ca_file: /etc/secretbroker/corp-root-ca.pem
type Config struct {
	// URL is the base address of the CCP web server, "https://host[:port]"
	// optionally followed by a path prefix (a reverse proxy's). Required.
	// Only https is accepted; it must not contain user info, a query or a
	// fragment. The usual HTTPS_PROXY and NO_PROXY environment variables
	// apply. Example: "https://ccp.example.com".
	URL string `yaml:"url"`

	// WebService is the name of the CCP IIS application, the first path
	// element before /api/Accounts. Default "AIMWebService". Example:
	// "AIMWebServiceCert" for a second, certificate-only installation.
	WebService string `yaml:"web_service"`

	// AppID is the CyberArk Application ID the daemon asks as (CCP's AppID
	// parameter). Required. Example: "secretbroker".
	AppID string `yaml:"app_id"`

	// Folder is the folder inside each Safe the objects are in (CCP's
	// Folder parameter). Default "Root". Example: "Root\\RPA".
	Folder string `yaml:"folder"`

	// QueryFormat switches from CCP's Safe/Folder/Object parameters to its
	// free Query parameter, "Safe=<safe>;Folder=<folder>;Object=<name>",
	// with QueryFormat "exact" (the object name must equal the name) or
	// "regexp" (CCP treats the object name as a regular expression; the
	// name is sent verbatim, so characters such as "+" and "." are regular
	// expression operators and a pattern that matches several objects is a
	// FailedPrecondition error). Default "": use Object=, which is exact.
	// Names, Safes and folders containing ";" cannot be sent in a Query and
	// are rejected with InvalidArgument.
	QueryFormat string `yaml:"query_format"`

	// ConnectionTimeout is CCP's ConnectionTimeout parameter: how many
	// seconds CCP itself keeps trying to reach the Vault. Default 0: the
	// parameter is not sent and CCP uses its own default (30 s). It must be
	// shorter than Timeout, or CCP's answer would come after the daemon
	// gave up. Example: 10.
	ConnectionTimeout int `yaml:"connection_timeout"`

	// TLS configures the connection to CCP: the client certificate of the
	// AppID's certificate authentication, the CAs trusted for CCP's
	// certificate and the name expected in it. The hashicorp kind's tls
	// block has the same fields and meaning.
	TLS TLSConfig `yaml:"tls"`

	// Writable exists because every provider block has it; it must be
	// false (the default): CCP is read-only, so Put and Delete always fail
	// with FailedPrecondition.
	Writable bool `yaml:"writable"`

	// Timeout bounds each HTTP request to CCP, in addition to the caller's
	// own deadline (whichever comes first wins). Default 30s. Example:
	// "10s". It bounds one request; the daemon's protection block
	// (protection: {timeout, ...} beside this block) bounds the whole call,
	// its retries included.
	Timeout time.Duration `yaml:"timeout"`

	// MaxAttempts is how many requests Get makes in all for one call while
	// CyberArk is changing the password (PasswordChangeInProcess, or error
	// APPAP282E): the first one and MaxAttempts-1 retries. Default 3; 1
	// disables retries; at most 10. Example: 5. These are the provider's
	// own retries of that one answer; the daemon's protection block adds
	// retries with backoff and a circuit breaker around every call.
	MaxAttempts int `yaml:"max_attempts"`

	// Backoff is the wait before the first of those retries; each further
	// wait is twice the previous one. Get never waits past the caller's
	// deadline: when the next wait would end after it, Get gives up at
	// once. Default 500ms. Example: "1s".
	Backoff time.Duration `yaml:"backoff"`

	// ServeDuringChange decides what Get does when it gives up (attempts
	// spent, or the caller's deadline too near) and CCP's last answer is a
	// password with PasswordChangeInProcess true: false (the default) fails
	// with Unavailable, since the password may stop working at any moment;
	// true returns that password with Secret.Rotating set, so that the bot
	// may try it and no cache keeps it as current. An APPAP282E error
	// carries no password and is Unavailable either way.
	ServeDuringChange bool `yaml:"serve_during_change"`

	// CheckSafe is the Safe that Check (the daemon's health check) asks
	// in, for an object named "SecretBrokerHealthCheck" that should not
	// exist. CCP answers APPAP004E both for a missing object and for a
	// Safe the AppID may not see, and only after it has authenticated the
	// AppID and reached the Vault, so that answer means healthy. Default
	// "SecretBrokerHealthCheck", which need not exist; name a Safe of
	// yours to have CyberArk's audit show the checks there. Example:
	// "RPA-Health".
	CheckSafe string `yaml:"check_safe"`

	// Logger receives the provider's warnings (such as the one about
	// TLS.InsecureSkipVerifyThisIsUnsafe). Nil uses slog.Default(). Not
	// configurable from YAML.
	Logger *slog.Logger `yaml:"-"`
}

// TLSConfig configures TLS to CCP. Files are PEM.
type TLSConfig struct {
	// CAFile is a PEM bundle of the certificate authorities that sign the
	// CCP server's certificate. When set, only these authorities are
	// trusted (the system roots are not). Default "": the system roots.
	// Example: "/etc/secretbroker/corp-root-ca.pem".
	CAFile string `yaml:"ca_file"`

	// ServerName overrides the name sent in TLS SNI and checked against
	// the server certificate, for when URL names the server by an address
	// its certificate does not list. Default "": the host of URL. Example:
	// "ccp.example.com".
	ServerName string `yaml:"server_name"`

	// ClientCertFile is a PEM file holding the client certificate (and any
	// intermediates) presented to CCP for mutual TLS, the AppID's
	// certificate authentication. Optional; requires ClientKeyFile.
	// Example: "/etc/secretbroker/ccp-client.pem".
	ClientCertFile string `yaml:"client_cert_file"`

	// ClientKeyFile is the PEM file holding the private key of
	// ClientCertFile. Optional; requires ClientCertFile. Example:
	// "/etc/secretbroker/ccp-client-key.pem".
	ClientKeyFile string `yaml:"client_key_file"`

	// InsecureSkipVerifyThisIsUnsafe turns OFF verification of the CCP
	// server's certificate: anyone on the network path can then pose as
	// CCP and receive every request, or hand out passwords of its own
	// choosing. It exists for lab setups only; New logs a warning when it
	// is set. Default false. It cannot be combined with CAFile.
	InsecureSkipVerifyThisIsUnsafe bool `yaml:"insecure_skip_verify_this_is_unsafe"`
}

// settings is a validated Config with defaults applied and files loaded.
type settings struct {
	endpoint      *url.URL // scheme, host and path of .../api/Accounts
	appID         string
	folder        string
	queryFormat   string // "", "Exact" or "Regexp" (CCP's spelling)
	connTimeout   int
	timeout       time.Duration
	attempts      int
	backoff       time.Duration
	serveChanging bool
	checkSafe     string
	tls           *tls.Config
	insecure      bool
	log           *slog.Logger
}

func configErr(field, problem, fix string) error {
	return &providers.ConfigError{Field: field, Problem: problem, Fix: fix}
}

// Validate checks c without contacting CCP and returns every problem
// (joined with errors.Join), each a *providers.ConfigError: the URL (https
// with a host), the required app_id, query_format, the durations and
// max_attempts, writable (CCP is read-only), check_safe, and the tls
// settings with their files (readable; a CA bundle with at least one
// certificate; a client certificate that matches its key). No file's
// content is reported. New makes the same checks first.
func (c Config) Validate() error {
	_, err := validate(c)
	return err
}

// validate checks cfg, applies defaults and loads the certificate files. Its
// error joins every problem found.
func validate(cfg Config) (*settings, error) {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, configErr(field, problem, fix)) }
	s := &settings{log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}

	// url
	var u *url.URL
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		bad("url", "is required", "set the CCP base address, e.g. https://ccp.example.com")
	} else if v, err := url.Parse(raw); err != nil {
		bad("url", "is not a valid URL", "write it as https://host[:port]")
	} else {
		switch {
		case !strings.EqualFold(v.Scheme, "https"):
			bad("url", "must use https (passwords must not cross the network in clear text)", "write it as https://host[:port]")
		case v.Host == "" || v.Hostname() == "":
			bad("url", "has no host", "write it as https://host[:port]")
		case v.User != nil:
			bad("url", "must not contain user info (credentials are never inline)",
				"remove the user:password@ part; authenticate with tls.client_cert_file/tls.client_key_file")
		case v.RawQuery != "" || v.ForceQuery || v.Fragment != "":
			bad("url", "must not contain a query or a fragment", "write it as https://host[:port]")
		default:
			u = v
		}
	}

	// web_service
	ws := strings.TrimSpace(cfg.WebService)
	if ws == "" {
		ws = DefaultWebService
	}
	if strings.ContainsAny(ws, "/?#%\\") || hasControl(ws) {
		bad("web_service", "must be a single path element", "write the IIS application name only, e.g. AIMWebService")
	} else if u != nil {
		s.endpoint = &url.URL{
			Scheme: "https",
			Host:   u.Host,
			Path:   strings.TrimRight(u.Path, "/") + "/" + ws + "/api/Accounts",
		}
	}

	// app_id
	s.appID = strings.TrimSpace(cfg.AppID)
	if s.appID == "" {
		bad("app_id", "is required", "set the CyberArk Application ID the daemon is registered as")
	} else if hasControl(s.appID) {
		bad("app_id", "contains control characters", "set the Application ID as shown in the PVWA")
	}

	// folder
	s.folder = cfg.Folder
	if s.folder == "" {
		s.folder = DefaultFolder
	}
	if hasControl(s.folder) {
		bad("folder", "contains control characters", `write a folder such as "Root"`)
	}

	// query_format
	switch strings.ToLower(strings.TrimSpace(cfg.QueryFormat)) {
	case "":
	case "exact":
		s.queryFormat = "Exact"
	case "regexp":
		s.queryFormat = "Regexp"
	default:
		bad("query_format", fmt.Sprintf("unknown value %q", cfg.QueryFormat),
			`write "exact" or "regexp", or leave it out to use the Object parameter`)
	}
	if s.queryFormat != "" && strings.ContainsRune(s.folder, ';') {
		bad("folder", `contains ";", which cannot be sent in a CCP Query`, "rename the folder or leave query_format out")
	}

	// writable
	if cfg.Writable {
		bad("writable", "CCP is read-only", "remove writable, or set it to false; store credentials in a writable provider")
	}

	// timeout
	s.timeout = cfg.Timeout
	if s.timeout < 0 {
		bad("timeout", "must not be negative", "write a duration such as 30s, or leave it out for 30s")
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}

	// connection_timeout
	s.connTimeout = cfg.ConnectionTimeout
	switch {
	case s.connTimeout < 0 || s.connTimeout > maxConnectionTimeout:
		bad("connection_timeout", fmt.Sprintf("must be between 0 and %d seconds", maxConnectionTimeout),
			"write a number of seconds such as 10, or leave it out for CCP's default")
	case cfg.Timeout >= 0 && s.connTimeout > 0 && time.Duration(s.connTimeout)*time.Second >= s.timeout:
		bad("connection_timeout", "must be shorter than timeout (CCP would answer after the daemon gave up)",
			"lower connection_timeout or raise timeout")
	}

	// max_attempts, backoff, serve_during_change
	s.attempts = cfg.MaxAttempts
	if s.attempts < 0 || s.attempts > maxAttempts {
		bad("max_attempts", fmt.Sprintf("must be between 1 and %d", maxAttempts),
			"write 1 for no retries, or leave it out for the default of 3")
	}
	if s.attempts <= 0 {
		s.attempts = DefaultMaxAttempts
	}
	s.backoff = cfg.Backoff
	if s.backoff < 0 {
		bad("backoff", "must not be negative", "write a duration such as 500ms")
	}
	if s.backoff <= 0 {
		s.backoff = DefaultBackoff
	}
	s.serveChanging = cfg.ServeDuringChange

	// check_safe
	s.checkSafe = strings.TrimSpace(cfg.CheckSafe)
	if s.checkSafe == "" {
		s.checkSafe = DefaultCheckSafe
	}
	if hasControl(s.checkSafe) || (s.queryFormat != "" && strings.ContainsRune(s.checkSafe, ';')) {
		bad("check_safe", `contains control characters or (with query_format) ";"`,
			"name a Safe such as RPA-Health, or leave it out")
	}

	// tls
	tc, tlsErrs := cfg.TLS.config()
	errs = append(errs, tlsErrs...)
	s.tls = tc
	s.insecure = cfg.TLS.InsecureSkipVerifyThisIsUnsafe
	if len(errs) > 0 {
		return nil, providers.JoinErrors(errs)
	}
	return s, nil
}

// config builds the client TLS configuration from the certificate files,
// with a problem for every bad setting. Its errors name the file field,
// never the file's content.
func (t TLSConfig) config() (*tls.Config, []error) {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, configErr(field, problem, fix)) }
	tc := &tls.Config{MinVersion: tls.VersionTLS12}

	certFile, keyFile := strings.TrimSpace(t.ClientCertFile), strings.TrimSpace(t.ClientKeyFile)
	switch {
	case certFile != "" && keyFile == "":
		bad("tls.client_key_file", "is required with client_cert_file", "set the PEM file holding the client certificate's private key")
	case certFile == "" && keyFile != "":
		bad("tls.client_cert_file", "is required with client_key_file", "set the PEM file holding the client certificate")
	case certFile != "":
		certPEM, certErr := os.ReadFile(certFile)
		if certErr != nil {
			bad("tls.client_cert_file", "cannot be read: "+providers.FileProblem(certErr), "check the path and that the daemon's user may read it")
		}
		keyPEM, keyErr := os.ReadFile(keyFile)
		if keyErr != nil {
			bad("tls.client_key_file", "cannot be read: "+providers.FileProblem(keyErr), "check the path and that the daemon's user may read it")
		}
		if certErr == nil && keyErr == nil {
			// tls.X509KeyPair's errors describe the PEM structure, never
			// key material; they are still left out of the message, which
			// says what to check instead.
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			clear(keyPEM)
			if err != nil {
				bad("tls.client_key_file", "does not hold the private key of client_cert_file, or one of the two files is not PEM",
					"point client_cert_file at the PEM certificate and client_key_file at its PEM private key")
			} else {
				tc.Certificates = []tls.Certificate{pair}
			}
		}
	}

	if caFile := strings.TrimSpace(t.CAFile); caFile != "" {
		if t.InsecureSkipVerifyThisIsUnsafe {
			bad("tls.insecure_skip_verify_this_is_unsafe", "contradicts tls.ca_file",
				"remove insecure_skip_verify_this_is_unsafe (ca_file is the safe way to trust a private CA)")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			bad("tls.ca_file", "cannot be read: "+providers.FileProblem(err), "check the path and that the daemon's user may read it")
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				bad("tls.ca_file", "holds no PEM certificate", "point it at a PEM bundle of CA certificates")
			}
			tc.RootCAs = pool
		}
	}

	if sn := strings.TrimSpace(t.ServerName); sn != "" {
		if strings.ContainsAny(sn, "/:@ ") || hasControl(sn) {
			bad("tls.server_name", "must be a host name", "write the name the server certificate lists, e.g. ccp.example.com")
		}
		tc.ServerName = sn
	}
	tc.InsecureSkipVerify = t.InsecureSkipVerifyThisIsUnsafe
	return tc, errs
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
