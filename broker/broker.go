// Package broker is the core of secretbroker. For every request it asks the
// Authorizer first (who may do what, before any name is computed or any vault
// is called), turns the Control Room's words into the encoded secret names of
// package naming, reads through each provider's stack (fallback from the
// user-defined to the system credential inside a place, failover across a
// locker's places), records one audit entry, and wraps every failure once in
// an *Error whose message is safe for the caller.
//
// The broker knows nothing of gRPC, HTTP or any vault SDK: transports put an
// auth.Principal in the context and call it; providers.Provider stacks do the
// reading. The files split its jobs: request.go (what may be asked),
// resolve.go (names), read.go (reads, fallback, failover), write.go (puts and
// deletes), record.go (the audit), admin.go (cache invalidation, presence).
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// Provider is a provider instance the broker reads from: its stack (the
// driver wrapped in its middlewares) and its naming scheme.
type Provider struct {
	// Name is the instance's name in the configuration ("aws-prod").
	Name string
	// Provider reads and writes the secrets; Writable decides writes.
	Provider providers.Provider
	// Scheme encodes names for this instance; its kind is the provider kind.
	Scheme *naming.Scheme
	// Cache, when the stack has one, lets admin requests invalidate it.
	Cache Invalidator
}

// Invalidator drops cached secrets.
type Invalidator interface {
	// Invalidate drops the entries in location (any when "") whose names
	// start with namePrefix, and returns how many it dropped.
	Invalidate(location, namePrefix string) int
	// InvalidateAll drops every entry and returns how many it dropped.
	InvalidateAll() int
}

// Place is where a locker's credentials live in one provider: a name prefix,
// or a Safe on CyberArk.
type Place struct {
	// Provider is the Name of the Provider.
	Provider string
	// Prefix is the secret name prefix (every kind but CyberArk).
	Prefix string
	// Safe is the CyberArk Safe (CyberArk only).
	Safe string
}

// Locker maps a Control Room locker to its places, read in order.
type Locker struct {
	// Name is the locker's name.
	Name string
	// Places are read in order: the first serves; the next is read when a
	// place is unavailable or throttling (and, with FailoverOnNotFound, when
	// it has neither the user-defined nor the system credential).
	Places []Place
	// FailoverOnNotFound also fails over on NotFound, for a migration from
	// one vault to another.
	FailoverOnNotFound bool
	// UsernameTemplate, when set, builds the login name from the secret's
	// fields, such as `$domain$\$username$`.
	UsernameTemplate string
}

// AutoLogin says where auto-login credentials live and how they are named.
type AutoLogin struct {
	// Provider is the Name of the Provider that holds them.
	Provider string
	// Safe is the auto-login Safe (CyberArk only).
	Safe string
	// Format is the name format, "autologin_{username}" when empty.
	Format string
	// Mapping maps single usernames to explicit secret names, used verbatim.
	Mapping map[string]string
	// UsernameTemplate, when set, builds the login name from the secret.
	UsernameTemplate string
}

// Auditor records one entry per request. The broker fails a request whose
// entry cannot be recorded, unless Options.AuditFailOpen is set.
type Auditor interface {
	// Write records e; an error means it was not recorded.
	Write(e *audit.Entry) error
}

// Observer is told the outcome of every request (metrics). It must be cheap
// and must not keep the names it is given.
type Observer interface {
	// Request is called once per request with its operation, outcome and
	// decision (allowed, denied, limited, or none when it failed before the
	// policy was asked).
	Request(op auth.Operation, code providers.Code, decision string, elapsed time.Duration)
	// AuditFailed is called when an audit entry could not be written.
	AuditFailed()
}

// Options configures a Broker.
type Options struct {
	// Providers are the provider instances, each with a unique Name.
	Providers []Provider
	// Lockers are the lockers, each with a unique Name.
	Lockers []Locker
	// AutoLogin configures auto-login; nil disables it.
	AutoLogin *AutoLogin
	// Timeout bounds each request's vault calls when the caller's context
	// does not bound them sooner; 0 means 30 seconds.
	Timeout time.Duration
	// Authorizer decides every request. Required: there is no allow-all
	// default.
	Authorizer auth.Authorizer
	// Auditor records every request. Required.
	Auditor Auditor
	// AuditFailOpen serves requests whose audit entry could not be written
	// (the failure is still logged and observed). Default: fail closed.
	AuditFailOpen bool
	// Observer, when set, is told every request's outcome.
	Observer Observer
	// Logger receives operational messages (not the audit); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Broker serves credentials. It is safe for concurrent use; it is immutable
// once built (a reload builds a new one).
type Broker struct {
	providers map[string]*Provider
	lockers   map[string]*locker
	autoLogin *autoLogin
	timeout   time.Duration
	authz     auth.Authorizer
	auditor   Auditor
	failOpen  bool
	observer  Observer
	log       *slog.Logger
	now       func() time.Time
}

type place struct {
	Place
	provider *Provider
}

type locker struct {
	Locker
	places   []place
	template *naming.Template
}

type autoLogin struct {
	AutoLogin
	provider *Provider
	names    *naming.AutoLogin
	template *naming.Template
}

// New validates opts and returns a Broker. Every reference between lockers,
// auto-login and providers is checked here, so a Broker that exists can
// serve every configured locker.
func New(opts Options) (*Broker, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("broker: an Authorizer is required (access is denied by default, never open)")
	}
	if opts.Auditor == nil {
		return nil, errors.New("broker: an Auditor is required")
	}
	b := &Broker{
		providers: make(map[string]*Provider),
		lockers:   make(map[string]*locker),
		timeout:   opts.Timeout,
		authz:     opts.Authorizer,
		auditor:   opts.Auditor,
		failOpen:  opts.AuditFailOpen,
		observer:  opts.Observer,
		log:       opts.Logger,
		now:       opts.Now,
	}
	if b.timeout <= 0 {
		b.timeout = 30 * time.Second
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	for i := range opts.Providers {
		p := opts.Providers[i]
		if p.Name == "" || p.Provider == nil || p.Scheme == nil {
			return nil, fmt.Errorf("provider %d: name, provider and scheme are required", i)
		}
		if _, dup := b.providers[p.Name]; dup {
			return nil, fmt.Errorf("provider %q is defined twice", p.Name)
		}
		b.providers[p.Name] = &p
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

func (b *Broker) provider(name string) (*Provider, error) {
	p, ok := b.providers[name]
	if !ok {
		return nil, fmt.Errorf("provider %q is not defined", name)
	}
	return p, nil
}

func (b *Broker) newLocker(l Locker) (*locker, error) {
	if err := naming.ValidateComponent("locker name", l.Name); err != nil {
		return nil, err
	}
	if len(l.Places) == 0 {
		return nil, errors.New("a locker needs at least one place (provider and prefix or safe)")
	}
	lk := &locker{Locker: l}
	for i, pl := range l.Places {
		p, err := b.provider(pl.Provider)
		if err != nil {
			return nil, fmt.Errorf("place %d: %w", i+1, err)
		}
		if err := naming.CheckPlace(p.Scheme.Kind(), pl.Prefix, pl.Safe, true); err != nil {
			return nil, fmt.Errorf("place %d (provider %q): %w", i+1, pl.Provider, err)
		}
		lk.places = append(lk.places, place{Place: pl, provider: p})
	}
	if l.UsernameTemplate != "" {
		var err error
		if lk.template, err = naming.ParseTemplate(l.UsernameTemplate); err != nil {
			return nil, err
		}
	}
	return lk, nil
}

func (b *Broker) newAutoLogin(a AutoLogin) (*autoLogin, error) {
	p, err := b.provider(a.Provider)
	if err != nil {
		return nil, err
	}
	if err := naming.CheckPlace(p.Scheme.Kind(), "", a.Safe, false); err != nil {
		return nil, err
	}
	names, err := naming.NewAutoLogin(a.Format, a.Mapping)
	if err != nil {
		return nil, err
	}
	al := &autoLogin{AutoLogin: a, provider: p, names: names}
	if a.UsernameTemplate != "" {
		if al.template, err = naming.ParseTemplate(a.UsernameTemplate); err != nil {
			return nil, err
		}
	}
	return al, nil
}

// LockerInfo describes a configured locker.
type LockerInfo struct {
	// Name is the locker's name.
	Name string
	// Places are where it reads, in order.
	Places []PlaceInfo
	// Writable says whether Put and Delete work (the first place's provider
	// is writable).
	Writable bool
}

// PlaceInfo describes one place of a locker.
type PlaceInfo struct {
	// Provider is the provider instance's name.
	Provider string
	// Kind is the provider kind.
	Kind string
	// Prefix is the secret name prefix, "" on CyberArk.
	Prefix string
	// Safe is the CyberArk Safe.
	Safe string
}

func (b *Broker) lockerInfo(l *locker) LockerInfo {
	info := LockerInfo{Name: l.Name, Writable: l.places[0].provider.Provider.Writable()}
	for _, pl := range l.places {
		info.Places = append(info.Places, PlaceInfo{Provider: pl.Provider, Kind: pl.provider.Scheme.Kind(), Prefix: pl.Prefix, Safe: pl.Safe})
	}
	return info
}

// ProviderNames returns the configured provider instances' names, sorted.
func (b *Broker) ProviderNames() []string {
	out := make([]string, 0, len(b.providers))
	for n := range b.providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
