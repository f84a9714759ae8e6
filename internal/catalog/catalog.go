// Package catalog wires secretbroker's providers: it builds each provider
// instance of a configuration through an explicit switch on its kind, wraps
// it in its middleware stack (cache outermost, then the backend protection,
// then metrics of the calls that reach the vault), and on a reload keeps the
// instances whose configuration did not change, with their caches and
// tokens. Drivers of remote vaults are built in the background, so that
// neither start-up nor a reload waits on a vault. It is SPIRE's catalog
// without the plugin machinery.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/internal/config"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/aws"
	"github.com/secretbroker/secretbroker/providers/azure"
	"github.com/secretbroker/secretbroker/providers/cache"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/embedded"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
)

// Observer receives what the catalog builds, for metrics. Every method
// returns something to plug into a stack; nil observes nothing.
type Observer interface {
	// Middleware returns a middleware placed just above the driver, which
	// sees every call that reaches the vault.
	Middleware(provider string) providers.Middleware
	// CacheObserver returns the observer of the provider's cache.
	CacheObserver(provider string) cache.Observer
	// ProtectionObserver returns the observer of the provider's breaker,
	// retries and limits.
	ProtectionObserver(provider string) ProtectionObserver
}

// Options configures a Catalog.
type Options struct {
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Observer, when set, is plugged into every stack.
	Observer Observer
}

// Catalog owns the provider instances of the running configuration. It is
// safe for concurrent use.
type Catalog struct {
	log *slog.Logger
	obs Observer

	mu      sync.Mutex
	current map[string]*Entry
}

// Entry is one built provider instance.
type Entry struct {
	// Name is the instance's name.
	Name string
	// Kind is the provider kind.
	Kind string
	// Scheme encodes names for it.
	Scheme *naming.Scheme
	// Stack is the driver wrapped in its middlewares.
	Stack providers.Provider
	// Cache is the stack's cache, nil when disabled.
	Cache *cache.Cache

	fingerprint string
	driver      providers.Provider // the bottom of the stack (a lazy for remote vaults)
	lz          *lazy
}

// Check asks the driver (below cache and breaker) whether the vault is
// healthy.
func (e *Entry) Check(ctx context.Context) error { return e.driver.Check(ctx) }

// New returns an empty catalog.
func New(opts Options) *Catalog {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Catalog{log: log, obs: opts.Observer, current: map[string]*Entry{}}
}

// Plan is the set of provider instances of one configuration, prepared but
// not yet in use: Commit makes it current, Abort drops what it built.
type Plan struct {
	c       *Catalog
	entries map[string]*Entry
	built   []*Entry
	// Kept and Built count the instances reused and built.
	Kept, Built int
}

// Prepare builds the provider instances cfg needs, reusing the current ones
// whose configuration is unchanged. Embedded stores are opened at once (a
// wrong key is an error here); remote vaults are built in the background.
// On error nothing is left built.
func (c *Catalog) Prepare(ctx context.Context, cfg *config.Config, dataDir string) (*Plan, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	plan := &Plan{c: c, entries: map[string]*Entry{}}
	names := make([]string, 0, len(cfg.Providers))
	for n := range cfg.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		pc := cfg.Providers[name]
		fp, err := fingerprint(pc, dataDir)
		if err != nil {
			plan.Abort()
			return nil, err
		}
		if old, ok := c.current[name]; ok && old.fingerprint == fp {
			plan.entries[name] = old
			plan.Kept++
			continue
		}
		e, err := c.build(ctx, cfg, name, pc, dataDir, fp)
		if err != nil {
			plan.Abort()
			return nil, err
		}
		plan.entries[name] = e
		plan.built = append(plan.built, e)
		plan.Built++
	}
	return plan, nil
}

// Providers returns the plan's instances as the broker takes them.
func (p *Plan) Providers() []broker.Provider {
	out := make([]broker.Provider, 0, len(p.entries))
	for _, e := range p.entries {
		bp := broker.Provider{Name: e.Name, Provider: e.Stack, Scheme: e.Scheme}
		if e.Cache != nil {
			bp.Cache = e.Cache
		}
		out = append(out, bp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Commit makes the plan current and closes the instances it no longer
// uses, after grace (so that requests in flight on the old broker finish).
func (p *Plan) Commit(grace time.Duration) {
	p.c.mu.Lock()
	var retired []*Entry
	for name, e := range p.c.current {
		if p.entries[name] != e {
			retired = append(retired, e)
		}
	}
	p.c.current = p.entries
	p.c.mu.Unlock()
	if len(retired) == 0 {
		return
	}
	go func() {
		if grace > 0 {
			time.Sleep(grace)
		}
		for _, e := range retired {
			if err := e.Stack.Close(); err != nil {
				p.c.log.Warn("closing a retired provider", "provider", e.Name, "error", err)
			}
		}
	}()
}

// Abort closes what the plan built; the kept instances stay.
func (p *Plan) Abort() {
	for _, e := range p.built {
		_ = e.Stack.Close()
	}
	p.built = nil
}

// Entries returns the current instances, by name.
func (c *Catalog) Entries() []*Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Entry, 0, len(c.current))
	for _, e := range c.current {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WaitReady waits until every current remote driver is built or has failed
// once, or ctx ends.
func (c *Catalog) WaitReady(ctx context.Context) {
	for _, e := range c.Entries() {
		if e.lz != nil {
			e.lz.wait(ctx)
		}
	}
}

// Close closes every current instance.
func (c *Catalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, e := range c.current {
		if err := e.Stack.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing provider %q: %w", e.Name, err))
		}
	}
	c.current = map[string]*Entry{}
	return errors.Join(errs...)
}

// fingerprint identifies a provider's configuration: equal fingerprints
// mean the instance can be kept across a reload.
func fingerprint(pc *config.Provider, dataDir string) (string, error) {
	b, err := yaml.Marshal(pc)
	if err != nil {
		return "", fmt.Errorf("fingerprinting a provider's configuration: %w", err)
	}
	return dataDir + "\x00" + string(b), nil
}

func (c *Catalog) build(ctx context.Context, cfg *config.Config, name string, pc *config.Provider, dataDir, fp string) (*Entry, error) {
	scheme, err := pc.Scheme()
	if err != nil {
		return nil, cfg.ProviderError(name, err)
	}
	e := &Entry{Name: name, Kind: pc.Kind(), Scheme: scheme, fingerprint: fp}
	log := c.log.With("provider", name)
	switch pc.Kind() {
	case naming.Embedded:
		ec := *pc.Embedded
		ec.Path = config.InDir(dataDir, ec.Path)
		ec.KeyFile = config.InDir(dataDir, ec.KeyFile)
		p, err := embedded.New(ctx, ec)
		if err != nil {
			return nil, cfg.ProviderError(name, err)
		}
		e.driver = p
	case naming.AWS:
		ac := *pc.AWS
		e.lz = newLazy(name, e.Kind, ac.Writable, func(ctx context.Context) (providers.Provider, error) { return aws.New(ctx, ac) }, log)
	case naming.Azure:
		zc := *pc.Azure
		e.lz = newLazy(name, e.Kind, zc.Writable, func(ctx context.Context) (providers.Provider, error) { return azure.New(ctx, zc) }, log)
	case naming.HashiCorp:
		hc := *pc.HashiCorp
		e.lz = newLazy(name, e.Kind, hc.Writable, func(ctx context.Context) (providers.Provider, error) { return hashicorp.New(ctx, hc, log) }, log)
	case naming.CyberArk:
		cc := *pc.CyberArk
		e.lz = newLazy(name, e.Kind, false, func(ctx context.Context) (providers.Provider, error) { return cyberark.New(ctx, cc) }, log)
	default:
		return nil, fmt.Errorf("provider %q has no kind", name)
	}
	if e.lz != nil {
		e.driver = e.lz
	}
	var mws []providers.Middleware
	cc, err := cacheOptions(pc.Cache)
	if err != nil {
		_ = e.driver.Close()
		return nil, cfg.ProviderError(name, err)
	}
	if cc != nil {
		if c.obs != nil {
			cc.Observer = c.obs.CacheObserver(name)
		}
		if e.Cache, err = cache.New(*cc); err != nil {
			_ = e.driver.Close()
			return nil, cfg.ProviderError(name, err)
		}
		mws = append(mws, e.Cache.Middleware())
	}
	var pobs ProtectionObserver
	if c.obs != nil {
		pobs = c.obs.ProtectionObserver(name)
	}
	prot, err := protection(name, pc.Protection, pobs)
	if err != nil {
		_ = e.driver.Close()
		return nil, cfg.ProviderError(name, err)
	}
	mws = append(mws, prot...)
	if c.obs != nil {
		mws = append(mws, c.obs.Middleware(name))
	}
	e.Stack = providers.Chain(e.driver, mws...)
	return e, nil
}

// The cache's defaults.
const (
	DefaultCacheTTL        = 5 * time.Minute
	DefaultNegativeTTL     = 30 * time.Second
	DefaultCacheEntries    = 100_000
	DefaultCacheBytes      = 64 << 20
	DefaultStaleGrace      = time.Hour
	DefaultVaultTimeout    = 10 * time.Second
	DefaultMaxAttempts     = 3
	DefaultMaxConcurrency  = 64
	DefaultMaxWaiting      = 4096
	DefaultBreakerFailures = 5
	DefaultBreakerCoolDown = 30 * time.Second
)

func cacheOptions(c *config.Cache) (*cache.Options, error) {
	o := &cache.Options{TTL: DefaultCacheTTL, NegativeTTL: DefaultNegativeTTL, MaxEntries: DefaultCacheEntries,
		MaxBytes: DefaultCacheBytes, StaleGrace: DefaultStaleGrace}
	if c == nil {
		return o, nil
	}
	if c.Disabled {
		return nil, nil
	}
	if c.TTL > 0 {
		o.TTL = c.TTL
	}
	if c.NegativeTTL != nil {
		o.NegativeTTL = min(*c.NegativeTTL, o.TTL)
	}
	if c.MaxEntries > 0 {
		o.MaxEntries = c.MaxEntries
	}
	if c.MaxBytes > 0 {
		o.MaxBytes = int64(c.MaxBytes)
	}
	if c.StaleGrace != nil {
		o.StaleGrace = *c.StaleGrace
	}
	return o, nil
}
