package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// fake is a small in-memory provider that counts its calls, can fail on
// demand and can hold each Get until the test lets it go.
type fake struct {
	writable bool

	mu      sync.Mutex
	secrets map[string]*providers.Secret
	fault   error // returned by every call while set
	gate    chan struct{}

	gets     atomic.Int64
	inFlight atomic.Int64
	puts     atomic.Int64
	closed   atomic.Bool
}

func newFake(writable bool) *fake {
	return &fake{writable: writable, secrets: map[string]*providers.Secret{}}
}

func fkey(ref providers.Ref) string { return ref.Location + "|" + ref.Name + "|" + ref.Version }

func (f *fake) seed(ref providers.Ref, s *providers.Secret) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[fkey(ref)] = s.Clone()
}

func (f *fake) setFault(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = err
}

// hold makes every Get wait for a token on the returned channel (or its
// context) after reading its answer.
func (f *fake) hold() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	return f.gate
}

func (f *fake) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	f.gets.Add(1)
	f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	f.mu.Lock()
	s, ok := f.secrets[fkey(ref)]
	s = s.Clone()
	fault, gate := f.fault, f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, providers.Errorf(providers.CodeOf(ctx.Err()), ctx.Err(), "fake: gave up waiting")
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, providers.Errorf(providers.CodeOf(err), err, "fake: context done")
	}
	if fault != nil {
		return nil, fault
	}
	if !ok {
		return nil, providers.Errorf(providers.NotFound, nil, "fake: no secret %s", ref)
	}
	return s, nil
}

func (f *fake) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	f.puts.Add(1)
	if !f.writable {
		return providers.NotWritable("fake")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault != nil {
		return f.fault
	}
	f.secrets[fkey(ref)] = s.Clone()
	return nil
}

func (f *fake) Delete(ctx context.Context, ref providers.Ref) error {
	if !f.writable {
		return providers.NotWritable("fake")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault != nil {
		return f.fault
	}
	if _, ok := f.secrets[fkey(ref)]; !ok {
		return providers.Errorf(providers.NotFound, nil, "fake: no secret %s", ref)
	}
	delete(f.secrets, fkey(ref))
	return nil
}

func (f *fake) Writable() bool { return f.writable }

func (f *fake) Check(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault
}

func (f *fake) Close() error { f.closed.Store(true); return nil }

// clock is a settable clock for the cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counts is an Observer that counts.
type counts struct {
	hits, misses, stale, evicted atomic.Int64
	entries                      atomic.Int64
	bytes                        atomic.Int64
}

func (o *counts) Hit()          { o.hits.Add(1) }
func (o *counts) Miss()         { o.misses.Add(1) }
func (o *counts) StaleServed()  { o.stale.Add(1) }
func (o *counts) Evicted(n int) { o.evicted.Add(int64(n)) }
func (o *counts) Size(entries int, bytes int64) {
	o.entries.Store(int64(entries))
	o.bytes.Store(bytes)
}
