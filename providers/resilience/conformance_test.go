package resilience_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cache"
	"github.com/secretbroker/secretbroker/providers/embedded"
	"github.com/secretbroker/secretbroker/providers/providertest"
	"github.com/secretbroker/secretbroker/providers/resilience"
)

// middlewares are the stacks the conformance suite runs over: each
// middleware alone, the resilience stack New builds, and the whole
// recommended stack with the cache outermost.
func middlewares(t *testing.T) map[string][]providers.Middleware {
	t.Helper()
	must := func(mw providers.Middleware, err error) providers.Middleware {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return mw
	}
	retry := resilience.RetryOptions{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	limit := resilience.LimitOptions{MaxInFlight: 4, MaxWaiting: 64}
	breaker := resilience.BreakerOptions{Failures: 5, CoolDown: time.Second}
	cacheOpts := cache.Options{TTL: time.Minute, NegativeTTL: 5 * time.Second, MaxEntries: 1000,
		StaleGrace: time.Hour, FetchTimeout: 5 * time.Second}
	stack := resilience.Options{Name: "conformance", Breaker: &breaker, Retry: &retry, Limit: &limit,
		Timeout: 500 * time.Millisecond}
	return map[string][]providers.Middleware{
		"Timeout": {must(resilience.Timeout("conformance", 500*time.Millisecond))},
		"Retry":   {must(resilience.Retry(retry))},
		"Limit":   {must(resilience.Limit(limit))},
		"Breaker": {must(resilience.Breaker(breaker))},
		"Cache":   {must(cache.Middleware(cacheOpts))},
		"New":     {must(resilience.New(stack))},
		"Stack":   {must(cache.Middleware(cacheOpts)), must(resilience.New(stack))},
	}
}

func TestConformanceOverMemory(t *testing.T) {
	for name, mws := range middlewares(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, providertest.NewMemoryHarness(), providertest.Options{
				BinaryValues: true,
				Middlewares:  mws,
			})
		})
	}
}

func TestConformanceOverEmbedded(t *testing.T) {
	for name, mws := range middlewares(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p, err := embedded.New(context.Background(), embedded.Config{
				Path:    filepath.Join(dir, "store.db"),
				KeyFile: filepath.Join(dir, "store.key"),
				Create:  true,
			})
			if err != nil {
				t.Fatal(err)
			}
			providertest.Run(t, &embeddedHarness{p: p}, providertest.Options{
				BinaryValues: true,
				Middlewares:  mws,
			})
		})
	}
}

// embeddedHarness runs the suite over one open embedded store: bbolt lets one
// handle per process write a file, so Seed writes through that handle and
// MakeProvider hands out views of it whose Close does nothing. It has no
// faults to show and no read-only view (package embedded's own conformance
// test covers those it can).
type embeddedHarness struct {
	p *embedded.Provider
}

type sharedStore struct{ *embedded.Provider }

func (sharedStore) Close() error { return nil }

func (h *embeddedHarness) Kind() string     { return naming.Embedded }
func (h *embeddedHarness) Location() string { return "" }
func (h *embeddedHarness) MakeProvider(context.Context) (providers.Provider, error) {
	return sharedStore{h.p}, nil
}
func (h *embeddedHarness) Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	return h.p.Put(ctx, ref, s)
}
func (h *embeddedHarness) Close() { h.p.Close() }
