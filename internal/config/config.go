// Package config reads secretbroker's YAML configuration into typed values,
// rejects unknown fields, and reports every mistake with the file, the line
// and the fix. Build turns a loaded configuration into a broker, creating
// each provider instance through an explicit switch on its kind.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers/aws"
	"github.com/secretbroker/secretbroker/providers/azure"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/embedded"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
)

// DefaultListen is where the daemon listens when nothing says otherwise.
const DefaultListen = "127.0.0.1:7787"

// Config is the whole configuration file.
type Config struct {
	// Server configures the daemon itself.
	Server Server `yaml:"server"`
	// Providers are the named provider instances.
	Providers map[string]*Provider `yaml:"providers"`
	// Lockers map Control Room lockers to providers.
	Lockers map[string]*Locker `yaml:"lockers"`
	// AutoLogin says where auto-login credentials live; nil disables them.
	AutoLogin *AutoLogin `yaml:"autologin"`

	file string
	root *yaml.Node
}

// Server configures the daemon.
type Server struct {
	// Listen is a TCP address (127.0.0.1:7787) or unix:/path/to.sock.
	Listen string `yaml:"listen"`
	// DataDir holds the embedded store; relative provider paths are resolved
	// against it. Default: the user's state directory.
	DataDir string `yaml:"data_dir"`
	// RequestTimeout bounds each backend call; default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `yaml:"log_level"`
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
}

// Naming overrides how names are encoded for one provider instance.
type Naming struct {
	// Encoding is "default" (or empty) or "none" (every character raw).
	Encoding string `yaml:"encoding"`
	// Allowed is a regular expression a character must match to pass raw,
	// e.g. '^[A-Za-z0-9/_+=.@-]+$' (the seed's
	// name.encoding.characters.allowed.regex).
	Allowed string `yaml:"allowed"`
}

// Locker maps a locker to a provider and a prefix or Safe.
type Locker struct {
	// Provider names a provider instance.
	Provider string `yaml:"provider"`
	// Prefix is the secret name prefix (not CyberArk).
	Prefix string `yaml:"prefix"`
	// Safe is the CyberArk Safe (CyberArk only).
	Safe string `yaml:"safe"`
	// UsernameTemplate builds the login name from the secret, e.g.
	// '$domain$\$username$'.
	UsernameTemplate string `yaml:"username_template"`
}

// AutoLogin configures auto-login credentials.
type AutoLogin struct {
	// Provider names a provider instance.
	Provider string `yaml:"provider"`
	// Safe is the auto-login Safe (CyberArk only).
	Safe string `yaml:"safe"`
	// Format is the name format; default autologin_{username}.
	Format string `yaml:"format"`
	// Mapping maps Control Room usernames to explicit secret names, used
	// verbatim.
	Mapping map[string]string `yaml:"mapping"`
	// UsernameTemplate builds the login name from the secret.
	UsernameTemplate string `yaml:"username_template"`
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

// Errors is every mistake found in one file.
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

var yamlLine = regexp.MustCompile(`^\s*line (\d+): (.*)$`)

// Parse decodes and validates a configuration; file names it in errors.
func Parse(file string, data []byte) (*Config, error) {
	cfg := &Config{file: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	cfg.root = &root
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	if errs := cfg.validate(); len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// yamlError turns yaml.v3's errors into Errors with a hint for each.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return Errors{{File: file, Line: n, Msg: m[2] + " (fix the YAML syntax)"}}
		}
		return Errors{{File: file, Msg: msg + " (fix the YAML syntax)"}}
	}
	var errs Errors
	for _, s := range te.Errors {
		e := &Error{File: file, Msg: s}
		if m := yamlLine.FindStringSubmatch(s); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		switch {
		case strings.Contains(e.Msg, "not found in type"):
			field := strings.Fields(e.Msg)[1]
			e.Msg = fmt.Sprintf("unknown field %s (remove it or correct its spelling; configs/ documents every field)", field)
		case strings.Contains(e.Msg, "cannot unmarshal"):
			e.Msg += " (give a value of the documented type, e.g. 30s for a duration)"
		}
		errs = append(errs, e)
	}
	return errs
}

// line returns the line of the deepest key of path that exists.
func (c *Config) line(path ...string) int {
	n := c.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

func (c *Config) errorf(path []string, format string, args ...any) *Error {
	return &Error{File: c.file, Line: c.line(path...), Msg: fmt.Sprintf(format, args...)}
}

// ProviderError places an error from a provider's constructor: a
// *providers.ConfigError names its field, so the line is that field's.
func (c *Config) ProviderError(name string, err error) error {
	p := c.Providers[name]
	path := []string{"providers", name}
	if p != nil {
		path = append(path, p.Kind())
	}
	if f := configField(err); f != "" {
		path = append(path, strings.Split(f, ".")...)
	}
	return c.errorf(path, "provider %q: %v", name, err)
}

func (c *Config) validate() Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	if c.Server.Listen != "" {
		if _, _, err := SplitListen(c.Server.Listen); err != nil {
			add(c.errorf([]string{"server", "listen"}, "server.listen: %v", err))
		}
	}
	if c.Server.RequestTimeout < 0 {
		add(c.errorf([]string{"server", "request_timeout"}, "server.request_timeout must be positive (e.g. 30s)"))
	}
	switch c.Server.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		add(c.errorf([]string{"server", "log_level"}, "server.log_level %q is not known (write debug, info, warn or error)", c.Server.LogLevel))
	}
	if len(c.Providers) == 0 {
		add(c.errorf(nil, "no providers (add a providers section; see configs/secretbroker.yaml)"))
	}
	for _, name := range sortedKeys(c.Providers) {
		p := c.Providers[name]
		path := []string{"providers", name}
		if p == nil {
			add(c.errorf(path, "provider %q is empty (give it one block: embedded, aws, azure, hashicorp or cyberark)", name))
			continue
		}
		if p.Kind() == "" {
			add(c.errorf(path, "provider %q must have exactly one of the blocks embedded, aws, azure, hashicorp, cyberark", name))
			continue
		}
		if _, err := p.Scheme(); err != nil {
			add(c.errorf(append(path, "naming"), "provider %q: %v", name, err))
		}
	}
	if len(c.Lockers) == 0 {
		add(c.errorf(nil, "no lockers (add a lockers section mapping a locker to a provider)"))
	}
	for _, name := range sortedKeys(c.Lockers) {
		l := c.Lockers[name]
		path := []string{"lockers", name}
		if l == nil {
			add(c.errorf(path, "locker %q is empty (give it provider and prefix, or provider and safe)", name))
			continue
		}
		errs = append(errs, c.checkPlace(path, "locker "+strconv.Quote(name), l.Provider, l.Prefix, l.Safe, true)...)
		if l.UsernameTemplate != "" {
			if _, err := naming.ParseTemplate(l.UsernameTemplate); err != nil {
				add(c.errorf(append(path, "username_template"), "locker %q: %v", name, err))
			}
		}
	}
	if a := c.AutoLogin; a != nil {
		path := []string{"autologin"}
		errs = append(errs, c.checkPlace(path, "autologin", a.Provider, "", a.Safe, false)...)
		if _, err := naming.NewAutoLogin(a.Format, a.Mapping); err != nil {
			add(c.errorf(append(path, "format"), "autologin: %v", err))
		}
		if a.UsernameTemplate != "" {
			if _, err := naming.ParseTemplate(a.UsernameTemplate); err != nil {
				add(c.errorf(append(path, "username_template"), "autologin: %v", err))
			}
		}
	}
	return errs
}

func (c *Config) checkPlace(path []string, what, provider, prefix, safe string, needPrefix bool) Errors {
	var errs Errors
	if provider == "" {
		return Errors{c.errorf(path, "%s: provider is required (name one of: %s)", what, strings.Join(sortedKeys(c.Providers), ", "))}
	}
	p, ok := c.Providers[provider]
	if !ok || p == nil {
		return Errors{c.errorf(append(path, "provider"), "%s: provider %q is not defined (defined: %s)", what, provider, strings.Join(sortedKeys(c.Providers), ", "))}
	}
	if p.Kind() == naming.CyberArk {
		if prefix != "" {
			errs = append(errs, c.errorf(append(path, "prefix"), "%s: provider %q is CyberArk, whose lockers are Safes: write safe, not prefix", what, provider))
		}
		if err := naming.CheckSafe(safe); err != nil {
			errs = append(errs, c.errorf(append(path, "safe"), "%s: %v", what, err))
		}
		return errs
	}
	if safe != "" {
		errs = append(errs, c.errorf(append(path, "safe"), "%s: safe is for CyberArk providers; provider %q is %s: remove safe", what, provider, p.Kind()))
	}
	if needPrefix && prefix == "" {
		errs = append(errs, c.errorf(path, "%s: prefix is required for provider %q (%s)", what, provider, p.Kind()))
	}
	return errs
}

// Warnings returns what is allowed but probably a mistake, such as a raw
// set that admits '-' and so makes names ambiguous.
func (c *Config) Warnings() []string {
	var out []string
	for _, name := range sortedKeys(c.Providers) {
		s, err := c.Providers[name].Scheme()
		if err == nil && s.Ambiguous() {
			out = append(out, fmt.Sprintf("%s:%d: provider %q: its raw set lets '-' through, so encoded names cannot always be decoded and two names may collide",
				c.file, c.line("providers", name, "naming"), name))
		}
	}
	return out
}

// File returns the file the configuration came from.
func (c *Config) File() string { return c.file }

// Listen returns the listen address with its default.
func (c *Config) Listen() string {
	if c.Server.Listen == "" {
		return DefaultListen
	}
	return c.Server.Listen
}

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

// DefaultDataDir returns the user's state directory for secretbroker:
// $XDG_STATE_HOME/secretbroker, ~/.local/state/secretbroker on Linux, or the
// user's configuration directory elsewhere.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "secretbroker"), nil
	}
	if runtime.GOOS == "linux" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the data directory: %w (pass -data-dir)", err)
		}
		return filepath.Join(home, ".local", "state", "secretbroker"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the data directory: %w (pass -data-dir)", err)
	}
	return filepath.Join(d, "secretbroker"), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
