// Package config reads secretbroker's YAML configuration into typed values,
// rejects unknown fields, and reports every mistake at once, each with the
// file, the line and the fix. It only parses and validates: package
// internal/catalog builds providers and the broker from what it returns.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/internal/datadir"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/policy"
	"github.com/secretbroker/secretbroker/providers/aws"
	"github.com/secretbroker/secretbroker/providers/azure"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/embedded"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
)

// DefaultListen is where the daemon listens when nothing says otherwise.
const DefaultListen = "127.0.0.1:7787"

// DefaultAdminListen is where the admin HTTP listener (metrics, health)
// listens when nothing says otherwise.
const DefaultAdminListen = "127.0.0.1:7788"

// LocalAdminIdentity is the identity of the local admin token.
const LocalAdminIdentity = "local-admin"

// Config is the whole configuration file.
type Config struct {
	// Server configures the daemon's gRPC listener and its process.
	Server Server `yaml:"server"`
	// Admin configures the admin HTTP listener.
	Admin Admin `yaml:"admin"`
	// Auth lists the callers' credentials (token hashes).
	Auth Auth `yaml:"auth"`
	// Policy says who may do what; default deny.
	Policy policy.Config `yaml:"policy"`
	// Audit configures the audit trail.
	Audit Audit `yaml:"audit"`
	// Providers are the named provider instances.
	Providers map[string]*Provider `yaml:"providers"`
	// Lockers map Control Room lockers to places in providers.
	Lockers Lockers `yaml:"lockers"`
	// AutoLogin says where auto-login credentials live; nil disables them.
	AutoLogin *AutoLogin `yaml:"autologin"`
	// CCP configures the CyberArk CCP-compatible REST endpoint; nil
	// disables it.
	CCP *CCP `yaml:"ccp"`

	file  string
	data  []byte
	once  sync.Once
	lines *lineIndex
}

// Server configures the daemon.
type Server struct {
	// Listen is a TCP address (127.0.0.1:7787) or unix:/path/to.sock.
	Listen string `yaml:"listen"`
	// TLS is the server certificate and, for mTLS, the client CA.
	TLS *TLS `yaml:"tls"`
	// InsecurePlaintext allows plaintext on a non-loopback address, for a
	// TLS-terminating sidecar. A warning is logged at every start.
	InsecurePlaintext bool `yaml:"insecure_plaintext_behind_tls_terminating_proxy"`
	// Reflection turns gRPC server reflection on (default) or off.
	Reflection *bool `yaml:"reflection"`
	// DataDir holds the embedded store, the local admin token and the
	// audit file; relative paths are resolved against it.
	DataDir string `yaml:"data_dir"`
	// RequestTimeout bounds each request's vault calls; default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout bounds the graceful stop; default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `yaml:"log_level"`
	// ReloadOnChange reloads the configuration when its file changes.
	ReloadOnChange bool `yaml:"reload_on_change"`
	// MaxRecvMessageBytes bounds a request message; default 1 MiB.
	MaxRecvMessageBytes int `yaml:"max_request_bytes"`
	// HealthCheckInterval is how often each provider's vault is checked;
	// default 10s.
	HealthCheckInterval time.Duration `yaml:"health_check_interval"`
	// HealthGrace is how long a provider counts as ready after its last
	// healthy check; default 30s.
	HealthGrace *time.Duration `yaml:"health_grace"`
}

// TLS names certificate files; they are reloaded when they change.
type TLS struct {
	// CertFile is the server certificate (PEM, chain first).
	CertFile string `yaml:"cert_file"`
	// KeyFile is its private key.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, requires client certificates signed by it.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Admin configures the admin HTTP listener: /metrics, /healthz, /readyz.
type Admin struct {
	// Listen is host:port, or "off"; default 127.0.0.1:7788.
	Listen string `yaml:"listen"`
}

// Auth lists callers' credentials.
type Auth struct {
	// LocalAdminToken creates <data_dir>/admin.token (0600) on first start,
	// identity "local-admin". Default true.
	LocalAdminToken *bool `yaml:"local_admin_token"`
	// Tokens are bearer tokens, as hashes.
	Tokens []Token `yaml:"tokens"`
}

// Token is a bearer token's hash and the identity it proves.
type Token struct {
	// Identity is what policy rules match.
	Identity string `yaml:"identity"`
	// SHA256 is "sha256:" and the token's SHA-256 in hex.
	SHA256 string `yaml:"sha256"`
}

// Audit configures the audit trail.
type Audit struct {
	// Path is the audit file (in data_dir unless absolute), or "-" for
	// standard output. Default audit.log.
	Path string `yaml:"path"`
	// FailOpen serves requests whose audit line cannot be written.
	FailOpen bool `yaml:"fail_open"`
}

// Provider is one provider instance: exactly one of the kind blocks is set.
type Provider struct {
	// Embedded is the embedded encrypted store.
	Embedded *embedded.Config `yaml:"embedded"`
	// AWS is AWS Secrets Manager.
	AWS *aws.Config `yaml:"aws"`
	// Azure is Azure Key Vault.
	Azure *azure.Config `yaml:"azure"`
	// HashiCorp is HashiCorp Vault.
	HashiCorp *hashicorp.Config `yaml:"hashicorp"`
	// CyberArk is the CyberArk Central Credential Provider.
	CyberArk *cyberark.Config `yaml:"cyberark"`
	// Naming overrides the kind's default encoding.
	Naming Naming `yaml:"naming"`
	// Cache caches what the provider returns; nil means the defaults.
	Cache *Cache `yaml:"cache"`
	// Protection shields the vault; nil means the defaults.
	Protection *Protection `yaml:"protection"`
}

// Naming overrides how names are encoded for one provider instance.
type Naming struct {
	// Encoding is "default" (or empty) or "none" (every character raw).
	Encoding string `yaml:"encoding"`
	// Allowed is a regular expression a character must match to pass raw.
	Allowed string `yaml:"allowed"`
}

// Cache configures a provider's cache.
type Cache struct {
	// Disabled turns the cache off.
	Disabled bool `yaml:"disabled"`
	// TTL is how long a found secret is served from memory; default 5m.
	TTL time.Duration `yaml:"ttl"`
	// NegativeTTL is how long NotFound is remembered; default 30s; 0s off.
	NegativeTTL *time.Duration `yaml:"negative_ttl"`
	// MaxEntries bounds the entries (LRU); default 100000.
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes bounds the bytes held, such as 64MiB; default 64MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// StaleGrace is how long past TTL a value is served while the vault
	// is unreachable or throttling; default 1h; 0s off.
	StaleGrace *time.Duration `yaml:"stale_grace"`
}

// Protection configures the shield in front of a provider's vault.
type Protection struct {
	// Timeout bounds each vault call; default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how often a read is tried on Unavailable or
	// ResourceExhausted; default 3; 1 means no retry.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxConcurrency bounds the calls in flight to the vault; default 64.
	MaxConcurrency int `yaml:"max_concurrency"`
	// BreakerFailures opens the circuit after this many consecutive
	// failures; default 5 (0); a negative number turns the breaker off.
	BreakerFailures int `yaml:"breaker_failures"`
	// BreakerCoolDown is how long the circuit stays open before a probe;
	// default 30s.
	BreakerCoolDown time.Duration `yaml:"breaker_cool_down"`
}

// Locker maps a locker to one place (provider and prefix or safe) or to an
// ordered list of places.
type Locker struct {
	// Provider names a provider instance (single-place form).
	Provider string `yaml:"provider"`
	// Prefix is the secret name prefix (not CyberArk).
	Prefix string `yaml:"prefix"`
	// Safe is the CyberArk Safe (CyberArk only).
	Safe string `yaml:"safe"`
	// Places are read in order, for failover (list form).
	Places []Place `yaml:"places"`
	// FailoverOnNotFound also fails over when a place lacks the secret.
	FailoverOnNotFound bool `yaml:"failover_on_not_found"`
	// UsernameTemplate builds the login name from the secret.
	UsernameTemplate string `yaml:"username_template"`
}

// Place is one place of a locker.
type Place struct {
	// Provider names a provider instance.
	Provider string `yaml:"provider"`
	// Prefix is the secret name prefix (not CyberArk).
	Prefix string `yaml:"prefix"`
	// Safe is the CyberArk Safe (CyberArk only).
	Safe string `yaml:"safe"`
}

// AutoLogin configures auto-login credentials.
type AutoLogin struct {
	// Provider names a provider instance.
	Provider string `yaml:"provider"`
	// Safe is the auto-login Safe (CyberArk only).
	Safe string `yaml:"safe"`
	// Format is the name format; default autologin_{username}.
	Format string `yaml:"format"`
	// Mapping maps Control Room usernames to explicit secret names.
	Mapping Mapping `yaml:"mapping"`
	// MappingFile is a CSV of username,secret name rows (Automation
	// Anywhere's custom secrets mapping), merged into Mapping.
	MappingFile string `yaml:"mapping_file"`
	// UsernameTemplate builds the login name from the secret.
	UsernameTemplate string `yaml:"username_template"`
}

// CCP configures the CyberArk CCP-compatible REST endpoint.
type CCP struct {
	// Listen is host:port.
	Listen string `yaml:"listen"`
	// TLS is the endpoint's certificate and client CA (required off
	// loopback).
	TLS *TLS `yaml:"tls"`
	// WebService is the path segment, default AIMWebService.
	WebService string `yaml:"web_service"`
	// Safes maps CCP Safe names to lockers.
	Safes map[string]string `yaml:"safes"`
	// AutoLoginSafe is the CCP Safe that serves auto-login credentials.
	AutoLoginSafe string `yaml:"autologin_safe"`
}

// Kind returns the provider's kind, or "" when no or several blocks are set.
func (p *Provider) Kind() string {
	var kinds []string
	if p.Embedded != nil {
		kinds = append(kinds, naming.Embedded)
	}
	if p.AWS != nil {
		kinds = append(kinds, naming.AWS)
	}
	if p.Azure != nil {
		kinds = append(kinds, naming.Azure)
	}
	if p.HashiCorp != nil {
		kinds = append(kinds, naming.HashiCorp)
	}
	if p.CyberArk != nil {
		kinds = append(kinds, naming.CyberArk)
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// Scheme returns the naming scheme of the provider instance.
func (p *Provider) Scheme() (*naming.Scheme, error) {
	opt := naming.Options{Allowed: p.Naming.Allowed}
	switch p.Naming.Encoding {
	case "", "default":
	case "none":
		opt.None = true
	default:
		return nil, fmt.Errorf("naming.encoding %q is not known (write default or none)", p.Naming.Encoding)
	}
	return naming.NewScheme(p.Kind(), opt)
}

// PlacesOf returns a locker's places, from either form.
func (l *Locker) PlacesOf() []Place {
	if len(l.Places) > 0 {
		return l.Places
	}
	return []Place{{Provider: l.Provider, Prefix: l.Prefix, Safe: l.Safe}}
}

// Error is a configuration mistake, with where it is and how to fix it.
type Error struct {
	// File is the configuration file.
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Msg says what is wrong and how to fix it.
	Msg string
}

// Error returns "file:line: message".
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every mistake found in one file, in line order.
type Errors []*Error

// Error joins the mistakes, one a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration; file names it in errors.
// It reports every mistake it finds, not only the first.
func Parse(file string, data []byte) (*Config, error) {
	cfg := &Config{file: file, data: data}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs Errors
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, yamlError(file, err)
		}
		errs = append(errs, yamlError(file, err).(Errors)...)
	}
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return cfg, nil
}

// line returns the line of the deepest element of path that exists. The
// index of lines is built on first use: a valid file never needs it.
func (c *Config) line(path ...string) int {
	c.once.Do(func() {
		var root yaml.Node
		if err := yaml.Unmarshal(c.data, &root); err == nil {
			c.lines = newLineIndex(&root)
		}
	})
	return c.lines.line(path...)
}

// File returns the file the configuration came from.
func (c *Config) File() string { return c.file }

// Listen returns the gRPC listen address with its default.
func (c *Config) Listen() string {
	if c.Server.Listen == "" {
		return DefaultListen
	}
	return c.Server.Listen
}

// AdminListen returns the admin listen address with its default, or "" when
// it is off.
func (c *Config) AdminListen() string {
	switch c.Admin.Listen {
	case "":
		return DefaultAdminListen
	case "off":
		return ""
	}
	return c.Admin.Listen
}

// LocalAdminToken reports whether the local admin token is on (default).
func (c *Config) LocalAdminToken() bool {
	return c.Auth.LocalAdminToken == nil || *c.Auth.LocalAdminToken
}

// Reflection reports whether gRPC reflection is on (default).
func (c *Config) Reflection() bool { return c.Server.Reflection == nil || *c.Server.Reflection }

// SplitListen splits "unix:/path" or a TCP "host:port" into network and
// address.
func SplitListen(s string) (network, addr string, err error) {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		rest = strings.TrimPrefix(rest, "//")
		if rest == "" {
			return "", "", fmt.Errorf("unix socket path is empty (write unix:/run/secretbroker/secretbroker.sock)")
		}
		return "unix", rest, nil
	}
	if !strings.Contains(s, ":") {
		return "", "", fmt.Errorf("%q is not host:port or unix:/path (write e.g. 127.0.0.1:7787)", s)
	}
	return "tcp", s, nil
}

// DefaultDataDir returns the user's state directory for secretbroker (see
// package datadir: the CLI finds the local admin token by the same rule).
func DefaultDataDir() (string, error) { return datadir.Default(datadir.OS()) }

// InDir resolves a relative path against dir; "" stays "".
func InDir(dir, path string) string {
	if path == "" || path == "-" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
