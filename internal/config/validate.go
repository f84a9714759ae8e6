package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/policy"
	"github.com/secretbroker/secretbroker/providers"
)

// ByteSize is a size in bytes, written as a number or with a unit: 64MiB,
// 512KiB, 1GiB, 1000000.
type ByteSize int64

// UnmarshalYAML reads a number or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a size (write e.g. 64MiB)", n.Line, n.Value)
	}
	*b = ByteSize(v * mult)
	return nil
}

func (c *Config) errorf(path []string, format string, args ...any) *Error {
	return &Error{File: c.file, Line: c.line(path...), Msg: fmt.Sprintf(format, args...)}
}

// Validator checks a provider block without contacting its vault. Every
// provider kind's Config implements it.
type Validator interface {
	Validate() error
}

func (c *Config) validate() Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	c.validateServer(add)
	if len(c.Providers) == 0 {
		add(c.errorf([]string{"providers"}, "no providers are defined (add a providers section; see configs/secretbroker.yaml)"))
	}
	for _, name := range sortedKeys(c.Providers) {
		c.validateProvider(name, add)
	}
	if len(c.Lockers) == 0 {
		add(c.errorf([]string{"lockers"}, "no lockers are defined (add a lockers section mapping a locker to a provider)"))
	}
	for _, name := range sortedKeys(c.Lockers) {
		c.validateLocker(name, add)
	}
	if a := c.AutoLogin; a != nil {
		path := []string{"autologin"}
		c.checkPlace(path, "autologin", a.Provider, "", a.Safe, false, add)
		if _, err := naming.NewAutoLogin(a.Format, a.Mapping); err != nil {
			add(c.errorf(append(path, "format"), "autologin: %v", err))
		}
		if a.UsernameTemplate != "" {
			if _, err := naming.ParseTemplate(a.UsernameTemplate); err != nil {
				add(c.errorf(append(path, "username_template"), "autologin: %v", err))
			}
		}
	}
	c.validateAuth(add)
	c.validatePolicy(add)
	c.validateCCP(add)
	return errs
}

func (c *Config) validateServer(add func(*Error)) {
	s := c.Server
	if s.Listen != "" {
		if err := c.checkListen(s.Listen, s.TLS != nil, s.InsecurePlaintext); err != nil {
			add(c.errorf([]string{"server", "listen"}, "server.listen: %v", err))
		}
	}
	if s.TLS != nil {
		c.checkTLS([]string{"server", "tls"}, "server.tls", s.TLS, add)
	}
	if s.RequestTimeout < 0 {
		add(c.errorf([]string{"server", "request_timeout"}, "server.request_timeout must be positive (e.g. 30s)"))
	}
	if s.ShutdownTimeout < 0 {
		add(c.errorf([]string{"server", "shutdown_timeout"}, "server.shutdown_timeout must be positive (e.g. 10s)"))
	}
	if s.MaxRecvMessageBytes < 0 {
		add(c.errorf([]string{"server", "max_request_bytes"}, "server.max_request_bytes must be positive (e.g. 1048576)"))
	}
	switch s.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		add(c.errorf([]string{"server", "log_level"}, "server.log_level %q is not known (write debug, info, warn or error)", s.LogLevel))
	}
	if l := c.Admin.Listen; l != "" && l != "off" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			add(c.errorf([]string{"admin", "listen"}, "admin.listen %q is not host:port (write e.g. 127.0.0.1:7788, or off)", l))
		}
	}
	if c.Audit.Path != "" && c.Audit.Path != "-" && strings.HasSuffix(c.Audit.Path, "/") {
		add(c.errorf([]string{"audit", "path"}, "audit.path %q names a directory (write a file name such as audit.log, or - for standard output)", c.Audit.Path))
	}
}

// checkListen checks a listen address and the rule that plaintext TCP is
// for loopback only.
func (c *Config) checkListen(listen string, hasTLS, insecure bool) error {
	network, addr, err := SplitListen(listen)
	if err != nil {
		return err
	}
	if network == "unix" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (write e.g. 127.0.0.1:7787)", listen)
	}
	if !hasTLS && !insecure && !IsLoopback(host) {
		return fmt.Errorf("%s is not a loopback address and has no TLS: set server.tls.cert_file and key_file (and client_ca_file for mTLS), or listen on 127.0.0.1 or a unix socket", listen)
	}
	return nil
}

// IsLoopback reports whether host (a name or an address, without port) is
// loopback: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

func (c *Config) checkTLS(path []string, what string, t *TLS, add func(*Error)) {
	if t.CertFile == "" || t.KeyFile == "" {
		add(c.errorf(path, "%s: cert_file and key_file are both required (the server certificate and its key, PEM)", what))
	}
}

func (c *Config) validateProvider(name string, add func(*Error)) {
	p := c.Providers[name]
	path := []string{"providers", name}
	if p == nil {
		add(c.errorf(path, "provider %q is empty (give it one block: embedded, aws, azure, hashicorp or cyberark)", name))
		return
	}
	kind := p.Kind()
	if kind == "" {
		add(c.errorf(path, "provider %q must have exactly one of the blocks embedded, aws, azure, hashicorp, cyberark", name))
		return
	}
	if _, err := p.Scheme(); err != nil {
		add(c.errorf(append(path, "naming"), "provider %q: %v", name, err))
	}
	var block any
	switch kind {
	case naming.Embedded:
		block = p.Embedded
	case naming.AWS:
		block = p.AWS
	case naming.Azure:
		block = p.Azure
	case naming.HashiCorp:
		block = p.HashiCorp
	case naming.CyberArk:
		block = p.CyberArk
	}
	if v, ok := block.(Validator); ok {
		for _, err := range flatten(v.Validate()) {
			add(c.providerError(name, kind, err))
		}
	}
	if cc := p.Cache; cc != nil {
		cp := append(path, "cache")
		if cc.TTL < 0 || (cc.NegativeTTL != nil && *cc.NegativeTTL < 0) || (cc.StaleGrace != nil && *cc.StaleGrace < 0) {
			add(c.errorf(cp, "provider %q: cache durations must not be negative", name))
		}
		if cc.MaxEntries < 0 || cc.MaxBytes < 0 {
			add(c.errorf(cp, "provider %q: cache bounds must not be negative", name))
		}
	}
	if pr := p.Protection; pr != nil {
		pp := append(path, "protection")
		if pr.Timeout < 0 || pr.BreakerCoolDown < 0 {
			add(c.errorf(pp, "provider %q: protection durations must not be negative", name))
		}
		if pr.MaxAttempts < 0 || pr.MaxConcurrency < 0 {
			add(c.errorf(pp, "provider %q: protection.max_attempts and max_concurrency must not be negative (0 means the default)", name))
		}
	}
}

// flatten returns the errors joined in err (errors.Join), or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// providerError places an error from a provider's validation or
// constructor: a *providers.ConfigError names its field, so the line is
// that field's.
func (c *Config) providerError(name, kind string, err error) *Error {
	path := []string{"providers", name, kind}
	var ce *providers.ConfigError
	if errors.As(err, &ce) && ce.Field != "" {
		path = append(path, strings.Split(ce.Field, ".")...)
	}
	return c.errorf(path, "provider %q (%s): %v", name, kind, err)
}

// ProviderError places an error from provider name's constructor.
func (c *Config) ProviderError(name string, err error) error {
	kind := ""
	if p := c.Providers[name]; p != nil {
		kind = p.Kind()
	}
	return c.providerError(name, kind, err)
}

func (c *Config) validateLocker(name string, add func(*Error)) {
	l := c.Lockers[name]
	path := []string{"lockers", name}
	if l == nil {
		add(c.errorf(path, "locker %q is empty (give it provider and prefix, or provider and safe, or places)", name))
		return
	}
	if err := naming.ValidateComponent("locker name", name); err != nil {
		add(c.errorf(path, "%v", err))
	}
	if strings.HasPrefix(name, "@") {
		add(c.errorf(path, "locker %q: names starting with @ are reserved (%s stands for auto-login credentials in policies): rename it", name, auth.AutoLoginLocker))
	}
	what := "locker " + strconv.Quote(name)
	if len(l.Places) > 0 {
		if l.Provider != "" || l.Prefix != "" || l.Safe != "" {
			add(c.errorf(path, "%s: give either provider with prefix or safe, or places, not both", what))
		}
		for i, pl := range l.Places {
			c.checkPlace(append(path, "places", strconv.Itoa(i)), fmt.Sprintf("%s place %d", what, i+1), pl.Provider, pl.Prefix, pl.Safe, true, add)
		}
	} else {
		c.checkPlace(path, what, l.Provider, l.Prefix, l.Safe, true, add)
	}
	if l.UsernameTemplate != "" {
		if _, err := naming.ParseTemplate(l.UsernameTemplate); err != nil {
			add(c.errorf(append(path, "username_template"), "%s: %v", what, err))
		}
	}
}

func (c *Config) checkPlace(path []string, what, provider, prefix, safe string, needPrefix bool, add func(*Error)) {
	if provider == "" {
		add(c.errorf(path, "%s: provider is required (%s)", what, c.definedProviders()))
		return
	}
	p, ok := c.Providers[provider]
	if !ok || p == nil {
		add(c.errorf(append(path, "provider"), "%s: provider %q is not defined (%s)", what, provider, c.definedProviders()))
		return
	}
	if p.Kind() == "" {
		return // reported at the provider
	}
	if err := naming.CheckPlace(p.Kind(), prefix, safe, needPrefix); err != nil {
		field := "prefix"
		if safe != "" || p.Kind() == naming.CyberArk && prefix == "" {
			field = "safe"
		}
		add(c.errorf(append(path, field), "%s: provider %q (%s): %v", what, provider, p.Kind(), err))
	}
}

func (c *Config) definedProviders() string {
	if len(c.Providers) == 0 {
		return "no providers are defined"
	}
	return "defined: " + strings.Join(sortedKeys(c.Providers), ", ")
}

func (c *Config) validateAuth(add func(*Error)) {
	var toks []auth.Token
	for i, t := range c.Auth.Tokens {
		toks = append(toks, auth.Token{Identity: t.Identity, SHA256: t.SHA256})
		if t.Identity == LocalAdminIdentity && c.LocalAdminToken() {
			add(c.errorf([]string{"auth", "tokens", strconv.Itoa(i), "identity"}, "auth.tokens[%d]: identity %q is the local admin token's (choose another identity, or set auth.local_admin_token: false)", i, t.Identity))
		}
	}
	if _, err := auth.NewTokenSet(toks); err != nil {
		add(c.errorf([]string{"auth", "tokens"}, "auth.tokens: %v", err))
	}
}

func (c *Config) validatePolicy(add func(*Error)) {
	_, err := policy.New(c.Policy)
	for _, e := range flatten(err) {
		var fe *policy.FieldError
		if errors.As(e, &fe) {
			add(c.errorf(append([]string{"policy"}, policyPath(fe.Path)...), "policy.%s: %s", fe.Path, strings.TrimPrefix(fe.Error(), fe.Path+": ")))
			continue
		}
		add(c.errorf([]string{"policy"}, "policy: %v", e))
	}
}

// policyPath turns "clients[1].operations[0]" into its YAML path.
func policyPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				out = append(out, part)
				break
			}
			if i > 0 {
				out = append(out, part[:i])
			}
			j := strings.IndexByte(part, ']')
			if j < i {
				break
			}
			out = append(out, part[i+1:j])
			part = part[j+1:]
		}
	}
	return out
}

func (c *Config) validateCCP(add func(*Error)) {
	x := c.CCP
	if x == nil {
		return
	}
	path := []string{"ccp"}
	if x.Listen == "" {
		add(c.errorf(path, "ccp.listen is required (e.g. 127.0.0.1:7790)"))
	} else if err := c.checkListen(x.Listen, x.TLS != nil, false); err != nil {
		add(c.errorf(append(path, "listen"), "ccp.listen: %v", err))
	}
	if x.TLS == nil || x.TLS.ClientCAFile == "" {
		add(c.errorf(append(path, "tls"), "ccp.tls with cert_file, key_file and client_ca_file is required: the CCP endpoint identifies applications by client certificate"))
	} else {
		c.checkTLS(append(path, "tls"), "ccp.tls", x.TLS, add)
	}
	for _, safe := range sortedKeys(x.Safes) {
		if _, ok := c.Lockers[x.Safes[safe]]; !ok {
			add(c.errorf(append(path, "safes", safe), "ccp.safes: Safe %q maps to locker %q, which is not defined", safe, x.Safes[safe]))
		}
	}
	if x.AutoLoginSafe != "" && c.AutoLogin == nil {
		add(c.errorf(append(path, "autologin_safe"), "ccp.autologin_safe is set but there is no autologin section"))
	}
	if len(x.Safes) == 0 && x.AutoLoginSafe == "" {
		add(c.errorf(path, "ccp: map at least one Safe to a locker (safes: {finance: finance}) or set autologin_safe"))
	}
}

// Warnings returns what is allowed but probably a mistake, such as a raw
// set that admits '-' and so makes names ambiguous, or plaintext off
// loopback behind the sidecar override.
func (c *Config) Warnings() []string {
	var out []string
	for _, name := range sortedKeys(c.Providers) {
		s, err := c.Providers[name].Scheme()
		if err == nil && s.Ambiguous() {
			out = append(out, fmt.Sprintf("%s:%d: provider %q: its raw set lets '-' through, so encoded names cannot always be decoded and two names may collide",
				c.file, c.line("providers", name, "naming"), name))
		}
	}
	if c.Server.InsecurePlaintext {
		out = append(out, fmt.Sprintf("%s:%d: server.insecure_plaintext_behind_tls_terminating_proxy is on: the gRPC API accepts plaintext on %s; only a TLS-terminating proxy on the same host may reach it",
			c.file, c.line("server", "insecure_plaintext_behind_tls_terminating_proxy"), c.Listen()))
	}
	return out
}
