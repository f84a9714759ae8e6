// Package broker is the core of secretbroker: it maps lockers to providers
// and to secret name prefixes or CyberArk Safes, turns Control Room requests
// into the encoded secret names of package naming, serves the user-defined
// credential when it exists and the system one otherwise, serves auto-login
// credentials, and wraps every failure once in an *Error with a code.
//
// The broker knows nothing of gRPC or of any vault SDK: it talks to
// providers.Provider values that the daemon builds from its configuration.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// Backend is a provider instance the broker reads from.
type Backend struct {
	// Name is the instance's name in the configuration ("aws-prod").
	Name string
	// Provider reads the secrets.
	Provider providers.Provider
	// Scheme encodes names for this instance; its kind is the provider kind.
	Scheme *naming.Scheme
	// Writable allows PutCredential and DeleteCredential; Provider must then
	// implement providers.Writer.
	Writable bool
}

// Locker maps a Control Room locker to a backend.
type Locker struct {
	// Name is the locker's name.
	Name string
	// Backend is the Name of the Backend that holds its credentials.
	Backend string
	// Prefix is the secret name prefix (every kind but CyberArk).
	Prefix string
	// Safe is the CyberArk Safe (CyberArk only).
	Safe string
	// UsernameTemplate, when set, builds the login name from the secret's
	// fields, such as `$domain$\$username$`.
	UsernameTemplate string
}

// AutoLogin says where auto-login credentials live and how they are named.
type AutoLogin struct {
	// Backend is the Name of the Backend that holds them.
	Backend string
	// Safe is the auto-login Safe (CyberArk only).
	Safe string
	// Format is the name format, "autologin_{username}" when empty.
	Format string
	// Mapping maps single usernames to explicit secret names, used verbatim.
	Mapping map[string]string
	// UsernameTemplate, when set, builds the login name from the secret.
	UsernameTemplate string
}

// Options configures a Broker.
type Options struct {
	// Backends are the provider instances, each with a unique Name.
	Backends []Backend
	// Lockers are the lockers, each with a unique Name.
	Lockers []Locker
	// AutoLogin configures auto-login; nil disables GetAutoLogin.
	AutoLogin *AutoLogin
	// Timeout bounds every backend call that the caller's context does not
	// bound sooner; 0 means 30 seconds.
	Timeout time.Duration
	// Logger receives one audit line per request; nil discards them.
	Logger *slog.Logger
}

// Broker serves credentials. It is safe for concurrent use.
type Broker struct {
	backends  map[string]*Backend
	lockers   map[string]*locker
	autoLogin *autoLogin
	timeout   time.Duration
	log       *slog.Logger
}

type locker struct {
	Locker
	backend  *Backend
	template *naming.Template
}

type autoLogin struct {
	AutoLogin
	backend  *Backend
	names    *naming.AutoLogin
	template *naming.Template
}

// New validates opts and returns a Broker. Every reference between lockers,
// auto-login and backends is checked here, so a Broker that exists can
// serve every configured locker.
func New(opts Options) (*Broker, error) {
	b := &Broker{
		backends: make(map[string]*Backend),
		lockers:  make(map[string]*locker),
		timeout:  opts.Timeout,
		log:      opts.Logger,
	}
	if b.timeout <= 0 {
		b.timeout = 30 * time.Second
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	for i := range opts.Backends {
		be := opts.Backends[i]
		if be.Name == "" || be.Provider == nil || be.Scheme == nil {
			return nil, fmt.Errorf("backend %d: name, provider and scheme are required", i)
		}
		if _, dup := b.backends[be.Name]; dup {
			return nil, fmt.Errorf("backend %q is defined twice", be.Name)
		}
		if be.Writable {
			if _, ok := be.Provider.(providers.Writer); !ok {
				return nil, fmt.Errorf("backend %q: provider kind %s cannot be written", be.Name, be.Scheme.Kind())
			}
		}
		b.backends[be.Name] = &be
	}
	for _, l := range opts.Lockers {
		if _, dup := b.lockers[l.Name]; dup {
			return nil, fmt.Errorf("locker %q is defined twice", l.Name)
		}
		lk, err := b.newLocker(l)
		if err != nil {
			return nil, fmt.Errorf("locker %q: %w", l.Name, err)
		}
		b.lockers[l.Name] = lk
	}
	if opts.AutoLogin != nil {
		al, err := b.newAutoLogin(*opts.AutoLogin)
		if err != nil {
			return nil, fmt.Errorf("auto-login: %w", err)
		}
		b.autoLogin = al
	}
	return b, nil
}

func (b *Broker) backend(name string) (*Backend, error) {
	be, ok := b.backends[name]
	if !ok {
		return nil, fmt.Errorf("provider %q is not defined", name)
	}
	return be, nil
}

// place checks that a prefix or safe fits the backend's kind.
func place(be *Backend, prefix, safe string) error {
	if be.Scheme.Kind() == naming.CyberArk {
		if prefix != "" {
			return fmt.Errorf("provider %q is CyberArk: set safe, not prefix", be.Name)
		}
		return naming.CheckSafe(safe)
	}
	if safe != "" {
		return fmt.Errorf("provider %q is %s: set prefix, not safe (safes are CyberArk's)", be.Name, be.Scheme.Kind())
	}
	return nil
}

func (b *Broker) newLocker(l Locker) (*locker, error) {
	if err := naming.ValidateComponent("locker name", l.Name); err != nil {
		return nil, err
	}
	be, err := b.backend(l.Backend)
	if err != nil {
		return nil, err
	}
	if err := place(be, l.Prefix, l.Safe); err != nil {
		return nil, err
	}
	if be.Scheme.Kind() != naming.CyberArk {
		if err := naming.ValidateComponent("prefix", l.Prefix); err != nil {
			return nil, err
		}
	}
	lk := &locker{Locker: l, backend: be}
	if l.UsernameTemplate != "" {
		if lk.template, err = naming.ParseTemplate(l.UsernameTemplate); err != nil {
			return nil, err
		}
	}
	return lk, nil
}

func (b *Broker) newAutoLogin(a AutoLogin) (*autoLogin, error) {
	be, err := b.backend(a.Backend)
	if err != nil {
		return nil, err
	}
	if err := place(be, "", a.Safe); err != nil {
		return nil, err
	}
	names, err := naming.NewAutoLogin(a.Format, a.Mapping)
	if err != nil {
		return nil, err
	}
	al := &autoLogin{AutoLogin: a, backend: be, names: names}
	if a.UsernameTemplate != "" {
		if al.template, err = naming.ParseTemplate(a.UsernameTemplate); err != nil {
			return nil, err
		}
	}
	return al, nil
}

// Request names a credential the way the Control Room does.
type Request struct {
	// AutoLogin asks for the auto-login credential of Username; Locker and
	// Credential are then empty.
	AutoLogin bool
	// Locker is the locker name.
	Locker string
	// Credential is the credential name inside the locker.
	Credential string
	// Username is the Control Room user; for a locker credential, empty
	// means the system credential.
	Username string
	// Caller identifies who asks, for audit and for the vault's own audit
	// (CyberArk's Reason). It never decides access.
	Caller string
}

// Scope says which kind of credential a candidate is.
type Scope int

// The scopes.
const (
	// ScopeUser is a user-defined credential.
	ScopeUser Scope = iota + 1
	// ScopeSystem is a locker's system credential.
	ScopeSystem
	// ScopeAutoLogin is an auto-login credential.
	ScopeAutoLogin
)

// String returns USER, SYSTEM or AUTO_LOGIN.
func (s Scope) String() string {
	switch s {
	case ScopeUser:
		return "USER"
	case ScopeSystem:
		return "SYSTEM"
	case ScopeAutoLogin:
		return "AUTO_LOGIN"
	}
	return "UNSPECIFIED"
}

// Candidate is one secret a request tries: which backend, where, under which
// encoded name.
type Candidate struct {
	// Scope is the kind of credential.
	Scope Scope
	// Backend is the provider instance's name.
	Backend string
	// Kind is the provider kind.
	Kind string
	// Locker is the locker, empty for auto-login.
	Locker string
	// Location is the Safe on CyberArk, "" elsewhere.
	Location string
	// Logical is the name before encoding.
	Logical string
	// Name is the encoded name.
	Name string
	// Mapped is true when an auto-login name came from the mapping.
	Mapped bool
}

// Describe returns "name in provider P (kind[, safe S])" for messages.
func (c Candidate) Describe() string {
	where := fmt.Sprintf("provider %q (%s", c.Backend, c.Kind)
	if c.Location != "" {
		where += fmt.Sprintf(", safe %q", c.Location)
	}
	return fmt.Sprintf("%s %q in %s)", c.Scope, c.Name, where)
}

func (c Candidate) ref(caller string) providers.Ref {
	return providers.Ref{Location: c.Location, Name: c.Name, Reason: caller}
}

// Resolve returns the secrets a request would try, in order, without
// reading any of them.
func (b *Broker) Resolve(ctx context.Context, req Request) ([]Candidate, error) {
	op, subject := describe("resolve", req)
	cands, _, err := b.candidates(req, op, subject)
	if err != nil {
		b.audit(ctx, op, req, nil, err)
		return nil, err
	}
	b.audit(ctx, op, req, nil, nil)
	return cands, nil
}

func describe(op string, req Request) (string, string) {
	if req.AutoLogin {
		return op, fmt.Sprintf("for user %q", req.Username)
	}
	s := fmt.Sprintf("%q in locker %q", req.Credential, req.Locker)
	if req.Username != "" {
		s += fmt.Sprintf(" for user %q", req.Username)
	}
	return op, s
}

// candidates computes the names to try for req, and the template that builds
// the login name.
func (b *Broker) candidates(req Request, op, subject string) ([]Candidate, *naming.Template, error) {
	invalid := func(err error) error {
		return newError(providers.InvalidArgument, op, subject, err, "%s", err)
	}
	if req.AutoLogin {
		if req.Locker != "" || req.Credential != "" {
			return nil, nil, newError(providers.InvalidArgument, op, subject, nil, "an auto-login request names a username only, not a locker or credential")
		}
		if b.autoLogin == nil {
			return nil, nil, newError(providers.FailedPrecondition, op, subject, nil, "auto-login is not configured (add an autologin section to the configuration)")
		}
		al := b.autoLogin
		if err := naming.ValidateUsername(req.Username); err != nil {
			return nil, nil, invalid(err)
		}
		logical, _ := al.names.Logical(req.Username)
		name, mapped, err := al.names.Name(al.backend.Scheme, req.Username)
		if err != nil {
			return nil, nil, invalid(err)
		}
		c := Candidate{Scope: ScopeAutoLogin, Backend: al.backend.Name, Kind: al.backend.Scheme.Kind(),
			Location: al.Safe, Logical: logical, Name: name, Mapped: mapped}
		return []Candidate{c}, al.template, nil
	}
	lk, ok := b.lockers[req.Locker]
	if !ok {
		if req.Locker == "" {
			return nil, nil, newError(providers.InvalidArgument, op, subject, nil, "locker is required")
		}
		return nil, nil, newError(providers.FailedPrecondition, op, subject, nil, "unknown locker %q (see ListLockers for the configured ones)", req.Locker)
	}
	if err := naming.ValidateComponent("credential", req.Credential); err != nil {
		return nil, nil, invalid(err)
	}
	be := lk.backend
	var cands []Candidate
	add := func(scope Scope, logical string) error {
		name, err := be.Scheme.Name(logical)
		if err != nil {
			return invalid(err)
		}
		cands = append(cands, Candidate{Scope: scope, Backend: be.Name, Kind: be.Scheme.Kind(),
			Locker: lk.Name, Location: lk.Safe, Logical: logical, Name: name})
		return nil
	}
	if req.Username != "" {
		if err := naming.ValidateUsername(req.Username); err != nil {
			return nil, nil, invalid(err)
		}
		if err := add(ScopeUser, naming.UserName(lk.Prefix, req.Credential, req.Username)); err != nil {
			return nil, nil, err
		}
	}
	if err := add(ScopeSystem, naming.SystemName(lk.Prefix, req.Credential)); err != nil {
		return nil, nil, err
	}
	return cands, lk.template, nil
}

// Result is a credential that was served.
type Result struct {
	// Secret holds the attributes (filtered when keys were asked for).
	Secret *providers.Secret
	// Served is the candidate that was read.
	Served Candidate
	// LoginName is built by the username template, or is the username
	// attribute for auto-login credentials without a template.
	LoginName string
}

// GetCredential returns the credential req names: for a request with a
// username, the user-defined credential if it exists, else the system one.
// Only NotFound falls back; any other failure of the user-defined lookup is
// returned as it is. keys, when not empty, keeps only those attributes.
func (b *Broker) GetCredential(ctx context.Context, req Request, keys []string) (*Result, error) {
	req.AutoLogin = false
	return b.get(ctx, "get credential", req, keys)
}

// GetAutoLogin returns the auto-login credential of a Control Room user.
func (b *Broker) GetAutoLogin(ctx context.Context, username, caller string) (*Result, error) {
	return b.get(ctx, "get auto-login credential", Request{AutoLogin: true, Username: username, Caller: caller}, nil)
}

func (b *Broker) get(ctx context.Context, op string, req Request, keys []string) (*Result, error) {
	op, subject := describe(op, req)
	res, err := b.read(ctx, op, subject, req, keys)
	if res != nil {
		b.audit(ctx, op, req, &res.Served, err)
	} else {
		b.audit(ctx, op, req, nil, err)
	}
	return res, err
}

func (b *Broker) read(ctx context.Context, op, subject string, req Request, keys []string) (*Result, error) {
	cands, tmpl, err := b.candidates(req, op, subject)
	if err != nil {
		return nil, err
	}
	be := b.backends[cands[0].Backend]
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for i, c := range cands {
		s, err := be.Provider.Get(ctx, c.ref(req.Caller))
		code := providers.CodeOf(be.Provider, err)
		if code == providers.OK {
			return b.serve(op, subject, cands[:i+1], c, s, tmpl, keys)
		}
		if code == providers.NotFound && i+1 < len(cands) {
			continue
		}
		e := newError(code, op, subject, err, "%s", reasonFor(code, err))
		e.Tried = cands[:i+1]
		return nil, e
	}
	panic("unreachable: the last candidate always returns")
}

func (b *Broker) serve(op, subject string, tried []Candidate, c Candidate, s *providers.Secret, tmpl *naming.Template, keys []string) (*Result, error) {
	if s == nil {
		e := newError(providers.Internal, op, subject, nil, "the provider returned no secret")
		e.Tried = tried
		return nil, e
	}
	res := &Result{Secret: s.Clone(), Served: c}
	if tmpl != nil {
		login, err := tmpl.Execute(s.Attributes)
		if err != nil {
			e := newError(providers.FailedPrecondition, op, subject, err,
				"the secret does not fit the username template %s: %s", tmpl, err)
			e.Tried = tried
			return nil, e
		}
		res.LoginName = login
	} else if c.Scope == ScopeAutoLogin {
		res.LoginName = s.Attributes["username"]
	}
	if len(keys) > 0 {
		kept := make(map[string]string, len(keys))
		for _, k := range keys {
			v, ok := s.Attributes[k]
			if !ok {
				e := newError(providers.NotFound, op, subject, nil, "the credential has no attribute %q", k)
				e.Tried = tried
				return nil, e
			}
			kept[k] = v
		}
		res.Secret.Attributes = kept
	}
	return res, nil
}

// Put stores a credential under the name computed from req, in a writable
// backend, and returns where it went.
func (b *Broker) Put(ctx context.Context, req Request, s *providers.Secret) (*Candidate, error) {
	op, subject := describe("put credential", req)
	c, err := b.write(ctx, op, subject, req, func(ctx context.Context, w providers.Writer, ref providers.Ref) error {
		if s == nil || len(s.Attributes) == 0 {
			return newError(providers.InvalidArgument, op, subject, nil, "a credential needs at least one attribute")
		}
		return w.Put(ctx, ref, s)
	})
	b.audit(ctx, op, req, c, err)
	return c, err
}

// Delete deletes the credential req names from a writable backend.
func (b *Broker) Delete(ctx context.Context, req Request) (*Candidate, error) {
	op, subject := describe("delete credential", req)
	c, err := b.write(ctx, op, subject, req, func(ctx context.Context, w providers.Writer, ref providers.Ref) error {
		return w.Delete(ctx, ref)
	})
	b.audit(ctx, op, req, c, err)
	return c, err
}

func (b *Broker) write(ctx context.Context, op, subject string, req Request, do func(context.Context, providers.Writer, providers.Ref) error) (*Candidate, error) {
	cands, _, err := b.candidates(req, op, subject)
	if err != nil {
		return nil, err
	}
	c := cands[0] // user-defined when a username is given, else system
	be := b.backends[c.Backend]
	w, ok := be.Provider.(providers.Writer)
	if !be.Writable || !ok {
		return nil, newError(providers.FailedPrecondition, op, subject, nil,
			"provider %q (%s) is not writable (set writable: true in its configuration, where the kind supports it)", be.Name, be.Scheme.Kind())
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := do(ctx, w, c.ref(req.Caller)); err != nil {
		var be2 *Error
		if errors.As(err, &be2) {
			return nil, be2
		}
		code := providers.CodeOf(be.Provider, err)
		e := newError(code, op, subject, err, "%s", reasonFor(code, err))
		e.Tried = []Candidate{c}
		return nil, e
	}
	return &c, nil
}

// LockerInfo describes a configured locker.
type LockerInfo struct {
	// Name is the locker's name.
	Name string
	// Backend is the provider instance's name.
	Backend string
	// Kind is the provider kind.
	Kind string
	// Prefix is the secret name prefix, "" on CyberArk.
	Prefix string
	// Safe is the CyberArk Safe.
	Safe string
	// Writable says whether Put and Delete work.
	Writable bool
}

// Lockers lists the configured lockers by name.
func (b *Broker) Lockers() []LockerInfo {
	out := make([]LockerInfo, 0, len(b.lockers))
	for _, l := range b.lockers {
		out = append(out, LockerInfo{Name: l.Name, Backend: l.backend.Name, Kind: l.backend.Scheme.Kind(),
			Prefix: l.Prefix, Safe: l.Safe, Writable: l.backend.Writable})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close closes every backend's provider.
func (b *Broker) Close() error {
	var errs []error
	for _, be := range b.backends {
		if err := be.Provider.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing provider %q: %w", be.Name, err))
		}
	}
	return errors.Join(errs...)
}

// audit writes one line per request: who asked what, which secret was served
// or what failed. It logs names and codes, never attribute values.
func (b *Broker) audit(ctx context.Context, op string, req Request, served *Candidate, err error) {
	attrs := []slog.Attr{slog.String("op", op), slog.String("caller", req.Caller)}
	if req.AutoLogin {
		attrs = append(attrs, slog.String("username", req.Username))
	} else {
		attrs = append(attrs, slog.String("locker", req.Locker), slog.String("credential", req.Credential),
			slog.String("username", req.Username))
	}
	if served != nil {
		attrs = append(attrs, slog.String("provider", served.Backend), slog.String("scope", served.Scope.String()),
			slog.String("secret", served.Name))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		var e *Error
		if errors.As(err, &e) {
			attrs = append(attrs, slog.String("code", e.Code.String()))
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	b.log.LogAttrs(ctx, level, "request", attrs...)
}
