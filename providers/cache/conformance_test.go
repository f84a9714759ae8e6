package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cache"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// The conformance suite over a cache in front of Memory, the reference
// driver. The suite over the cache in front of the embedded store, alone and
// in the whole stack, runs in package resilience.
func TestConformanceOverMemory(t *testing.T) {
	for name, opts := range map[string]cache.Options{
		"defaults": {TTL: time.Minute, MaxEntries: 1000},
		"negative and stale": {TTL: time.Minute, NegativeTTL: 10 * time.Second, MaxEntries: 1000,
			StaleGrace: time.Hour, FetchTimeout: 5 * time.Second},
		"tiny": {TTL: time.Minute, MaxEntries: 2, MaxBytes: 64},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mw, err := cache.Middleware(opts)
			if err != nil {
				t.Fatal(err)
			}
			providertest.Run(t, providertest.NewMemoryHarness(), providertest.Options{
				BinaryValues: true,
				Middlewares:  []providers.Middleware{mw},
			})
		})
	}
}

// 1,000 concurrent first requests for one credential make one call to the
// reference driver.
func TestThousandFirstRequestsOneCallToMemory(t *testing.T) {
	m := providertest.NewMemory()
	ref := providers.Ref{Location: "Safe1", Name: "robot_login"}
	m.Seed(ref, &providers.Secret{Attributes: map[string]string{"username": "bot", "password": "pw"}})
	c, err := cache.New(cache.Options{TTL: time.Minute, MaxEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Middleware()(m)
	release := make(chan struct{})
	m.SetHook(func(ctx context.Context, op providertest.Op, _ providers.Ref) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	const callers = 1000
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.Get(context.Background(), ref)
			if err == nil && s.Attributes["password"] != "pw" {
				err = fmt.Errorf("wrong password")
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Waiting() != callers {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callers waiting", c.Waiting(), callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := m.CallsOf(providertest.OpGet); n != 1 {
		t.Fatalf("Memory got %d Gets, want 1", n)
	}
}
