package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

type stack struct {
	c     *Cache
	p     providers.Provider
	f     *fake
	clock *clock
	obs   *counts
}

func newStack(t *testing.T, opts Options, f *fake) *stack {
	t.Helper()
	s := &stack{f: f, clock: newClock(), obs: &counts{}}
	if opts.Clock == nil {
		opts.Clock = s.clock.Now
	}
	opts.Observer = s.obs
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.c = c
	s.p = providers.Chain(f, c.Middleware())
	t.Cleanup(func() { s.p.Close() })
	return s
}

func baseOptions() Options {
	return Options{TTL: time.Minute, NegativeTTL: 10 * time.Second, MaxEntries: 100, StaleGrace: 5 * time.Minute}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustGet(t *testing.T, p providers.Provider, ref providers.Ref) *providers.Secret {
	t.Helper()
	s, err := p.Get(ctx(t), ref)
	if err != nil {
		t.Fatalf("Get %s: %v", ref, err)
	}
	return s
}

func wantCode(t *testing.T, err error, want providers.Code) {
	t.Helper()
	if got := providers.CodeOf(err); got != want {
		t.Fatalf("error %v classified %v, want %v", err, got, want)
	}
}

func secret(pw string) *providers.Secret {
	return &providers.Secret{Attributes: map[string]string{"username": "svc-bot", "password": pw}}
}

var refA = providers.Ref{Location: "Safe1", Name: "app_db", Reason: "test"}

func TestNewRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name  string
		opts  Options
		field string
	}{
		{"no ttl", Options{MaxEntries: 10}, "ttl"},
		{"negative ttl", Options{TTL: -time.Second, MaxEntries: 10}, "ttl"},
		{"negative negative_ttl", Options{TTL: time.Minute, NegativeTTL: -1, MaxEntries: 10}, "negative_ttl"},
		{"negative_ttl over ttl", Options{TTL: time.Minute, NegativeTTL: 2 * time.Minute, MaxEntries: 10}, "negative_ttl"},
		{"no max_entries", Options{TTL: time.Minute}, "max_entries"},
		{"negative max_bytes", Options{TTL: time.Minute, MaxEntries: 10, MaxBytes: -1}, "max_bytes"},
		{"negative stale_grace", Options{TTL: time.Minute, MaxEntries: 10, StaleGrace: -1}, "stale_grace"},
		{"negative fetch_timeout", Options{TTL: time.Minute, MaxEntries: 10, FetchTimeout: -1}, "fetch_timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			var ce *providers.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("New: %v, want a *providers.ConfigError", err)
			}
			if ce.Field != c.field {
				t.Fatalf("field %q, want %q (%v)", ce.Field, c.field, err)
			}
		})
	}
	// Every bad field is reported at once.
	_, err := New(Options{TTL: -1, MaxEntries: -1, StaleGrace: -1})
	for _, f := range []string{"ttl:", "max_entries:", "stale_grace:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v does not report %s", err, f)
		}
	}
}

func TestHitMissAndClones(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("one"))
	s := newStack(t, baseOptions(), f)

	first := mustGet(t, s.p, refA)
	first.Attributes["password"] = "changed by caller"
	second := mustGet(t, s.p, refA)
	if got := second.Attributes["password"]; got != "one" {
		t.Fatalf("second Get: password %q, want %q (a caller's change leaked into the cache)", got, "one")
	}
	second.Attributes["password"] = "changed again"
	third := mustGet(t, s.p, refA)
	if got := third.Attributes["password"]; got != "one" {
		t.Fatalf("third Get: password %q, want %q", got, "one")
	}
	if n := f.gets.Load(); n != 1 {
		t.Fatalf("vault reads: %d, want 1", n)
	}
	if h, m := s.obs.hits.Load(), s.obs.misses.Load(); h != 2 || m != 1 {
		t.Fatalf("observer: %d hits %d misses, want 2 and 1", h, m)
	}
	// Reason and Fresh=false are not part of the key; Version and Location are.
	other := refA
	other.Reason = "someone else"
	mustGet(t, s.p, other)
	if n := f.gets.Load(); n != 1 {
		t.Fatalf("a different Reason read the vault: %d reads, want 1", n)
	}
	v := refA
	v.Version = "7"
	f.seed(v, secret("seven"))
	if got := mustGet(t, s.p, v).Attributes["password"]; got != "seven" {
		t.Fatalf("version 7: password %q, want %q", got, "seven")
	}
	loc := refA
	loc.Location = "Safe2"
	f.seed(loc, secret("two"))
	if got := mustGet(t, s.p, loc).Attributes["password"]; got != "two" {
		t.Fatalf("Safe2: password %q, want %q", got, "two")
	}
	if n := f.gets.Load(); n != 3 {
		t.Fatalf("vault reads: %d, want 3", n)
	}
	if s.c.Len() != 3 {
		t.Fatalf("Len %d, want 3", s.c.Len())
	}
}

// The secret the driver returned is not the one the cache keeps: a driver
// (or a caller of a concurrent miss) changing it changes nothing cached.
func TestStoresAClone(t *testing.T) {
	shared := secret("orig")
	p := &returnsShared{s: shared}
	c, err := New(baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	w := c.Middleware()(p)
	got := mustGet(t, w, refA)
	got.Attributes["password"] = "caller"
	shared.Attributes["password"] = "driver"
	if again := mustGet(t, w, refA); again.Attributes["password"] != "orig" {
		t.Fatalf("cached value changed to %q", again.Attributes["password"])
	}
}

type returnsShared struct {
	fake
	s *providers.Secret
}

func (r *returnsShared) Get(context.Context, providers.Ref) (*providers.Secret, error) {
	return r.s, nil
}

func TestThousandConcurrentMissesOneVaultRead(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("burst"))
	s := newStack(t, baseOptions(), f)
	gate := f.hold()

	const callers = 1000
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	results := make(chan *providers.Secret, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.p.Get(context.Background(), refA)
			if err != nil {
				errs <- err
				return
			}
			results <- v
		}()
	}
	// Every caller has joined the one read, which is still held.
	providertest.WaitFor(t, "1000 callers waiting on one read", func() bool { return s.c.Waiting() == callers })
	close(gate)
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.gets.Load(); n != 1 {
		t.Fatalf("vault reads: %d, want exactly 1", n)
	}
	n := 0
	for v := range results {
		if v.Attributes["password"] != "burst" {
			t.Fatalf("password %q, want %q", v.Attributes["password"], "burst")
		}
		v.Attributes["password"] = fmt.Sprint(n) // each caller owns its copy
		n++
	}
	if n != callers {
		t.Fatalf("%d results, want %d", n, callers)
	}
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "burst" {
		t.Fatalf("after the burst: password %q, want %q", got, "burst")
	}
}

// A waiter whose context ends returns at once with its own error; the shared
// read goes on for the others and fills the cache.
func TestWaiterHonoursItsContext(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("slow"))
	s := newStack(t, baseOptions(), f)
	gate := f.hold()

	first, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := s.p.Get(first, refA)
		firstErr <- err
	}()
	providertest.WaitFor(t, "the first caller's read", func() bool { return f.inFlight.Load() == 1 })
	secondDone := make(chan error, 1)
	go func() {
		_, err := s.p.Get(context.Background(), refA)
		secondDone <- err
	}()
	providertest.WaitFor(t, "two waiters", func() bool { return s.c.Waiting() == 2 })

	cancelFirst()
	select {
	case err := <-firstErr:
		wantCode(t, err, providers.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("canceled caller still waiting")
	}
	// The read was not canceled with the first caller.
	if f.inFlight.Load() != 1 {
		t.Fatal("the shared read ended with its first caller")
	}
	deadline, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := s.p.Get(deadline, refA)
	wantCode(t, err, providers.DeadlineExceeded)

	close(gate)
	if err := <-secondDone; err != nil {
		t.Fatalf("second caller: %v", err)
	}
	mustGet(t, s.p, refA)
	if n := f.gets.Load(); n != 1 {
		t.Fatalf("vault reads: %d, want 1", n)
	}
}

// A shared read is bounded by FetchTimeout, not by any caller's deadline.
func TestFetchTimeoutBoundsSharedRead(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("x"))
	opts := baseOptions()
	opts.FetchTimeout = 20 * time.Millisecond
	s := newStack(t, opts, f)
	f.hold() // never released: the vault hangs
	_, err := s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.DeadlineExceeded)
}

func TestCanceledContextBeforeHit(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("x"))
	s := newStack(t, baseOptions(), f)
	mustGet(t, s.p, refA)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.p.Get(c, refA)
	wantCode(t, err, providers.Canceled)
}

func TestTTLExpiryRefetches(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("v1"))
	s := newStack(t, baseOptions(), f)
	mustGet(t, s.p, refA)
	f.seed(refA, secret("v2"))
	s.clock.Advance(59 * time.Second)
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "v1" {
		t.Fatalf("within TTL: %q, want cached %q", got, "v1")
	}
	s.clock.Advance(time.Second)
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "v2" {
		t.Fatalf("at TTL: %q, want refetched %q", got, "v2")
	}
	if n := f.gets.Load(); n != 2 {
		t.Fatalf("vault reads: %d, want 2", n)
	}
}

func TestNegativeTTL(t *testing.T) {
	f := newFake(false)
	s := newStack(t, baseOptions(), f)
	_, err := s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.NotFound)
	f.seed(refA, secret("created"))
	_, err = s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.NotFound)
	if n := f.gets.Load(); n != 1 {
		t.Fatalf("vault reads: %d, want 1 (NotFound cached)", n)
	}
	s.clock.Advance(10 * time.Second)
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "created" {
		t.Fatalf("after NegativeTTL: %q", got)
	}

	// NegativeTTL 0 does not cache NotFound.
	f2 := newFake(false)
	opts := baseOptions()
	opts.NegativeTTL = 0
	s2 := newStack(t, opts, f2)
	for i := 0; i < 3; i++ {
		_, err := s2.p.Get(ctx(t), refA)
		wantCode(t, err, providers.NotFound)
	}
	if n := f2.gets.Load(); n != 3 {
		t.Fatalf("vault reads: %d, want 3", n)
	}
	if s2.c.Len() != 0 {
		t.Fatalf("Len %d, want 0", s2.c.Len())
	}
}

func named(n string) providers.Ref { return providers.Ref{Name: n} }

func TestEntryBoundEvictsLeastRecentlyUsed(t *testing.T) {
	f := newFake(false)
	for _, n := range []string{"a", "b", "c", "d"} {
		f.seed(named(n), secret(n))
	}
	opts := baseOptions()
	opts.MaxEntries = 3
	s := newStack(t, opts, f)
	mustGet(t, s.p, named("a"))
	mustGet(t, s.p, named("b"))
	mustGet(t, s.p, named("c"))
	mustGet(t, s.p, named("a")) // a is now the most recent; b the oldest
	mustGet(t, s.p, named("d"))
	if s.c.Len() != 3 {
		t.Fatalf("Len %d, want 3", s.c.Len())
	}
	if e := s.obs.evicted.Load(); e != 1 {
		t.Fatalf("evicted %d, want 1", e)
	}
	before := f.gets.Load() // 4
	mustGet(t, s.p, named("a"))
	mustGet(t, s.p, named("c"))
	mustGet(t, s.p, named("d"))
	if n := f.gets.Load() - before; n != 0 {
		t.Fatalf("a, c, d read the vault %d times, want 0", n)
	}
	mustGet(t, s.p, named("b"))
	if n := f.gets.Load() - before; n != 1 {
		t.Fatalf("b read the vault %d times, want 1 (it was evicted)", n)
	}
}

func TestByteBoundEvictsLeastRecentlyUsed(t *testing.T) {
	f := newFake(false)
	// Each entry: its overhead (320) + name (1) + "k" (1) + 19-byte value
	// + the overhead of one attribute (32) = 373 bytes.
	for _, n := range []string{"a", "b", "c", "d"} {
		f.seed(named(n), &providers.Secret{Attributes: map[string]string{"k": strings.Repeat(n, 19)}})
	}
	f.seed(named("big"), &providers.Secret{Attributes: map[string]string{"k": strings.Repeat("x", 2000)}})
	opts := baseOptions()
	opts.MaxBytes = 1200 // room for three
	s := newStack(t, opts, f)
	mustGet(t, s.p, named("a"))
	mustGet(t, s.p, named("b"))
	mustGet(t, s.p, named("c"))
	if s.c.Bytes() != 1119 || s.c.Len() != 3 {
		t.Fatalf("Bytes %d Len %d, want 1119 and 3", s.c.Bytes(), s.c.Len())
	}
	mustGet(t, s.p, named("a"))
	mustGet(t, s.p, named("d")) // evicts b
	if s.c.Bytes() != 1119 || s.c.Len() != 3 {
		t.Fatalf("Bytes %d Len %d, want 1119 and 3", s.c.Bytes(), s.c.Len())
	}
	if s.obs.bytes.Load() != 1119 || s.obs.entries.Load() != 3 {
		t.Fatalf("observer size %d entries %d bytes, want 3 and 1119", s.obs.entries.Load(), s.obs.bytes.Load())
	}
	before := f.gets.Load()
	mustGet(t, s.p, named("b"))
	if n := f.gets.Load() - before; n != 1 {
		t.Fatalf("b read the vault %d times, want 1", n)
	}
	// A secret larger than the bound is served but not kept, and evicts nothing.
	n := s.c.Len()
	mustGet(t, s.p, named("big"))
	mustGet(t, s.p, named("big"))
	if s.c.Len() != n {
		t.Fatalf("Len %d after an oversized secret, want %d", s.c.Len(), n)
	}
	if got := f.gets.Load() - before; got != 3 {
		t.Fatalf("vault reads %d, want 3 (big is never kept)", got)
	}
}

// Above 512 entries the cache is sharded; the bounds still hold in total.
func TestShardedBoundsHold(t *testing.T) {
	f := newFake(false)
	opts := baseOptions()
	opts.MaxEntries = 4096
	opts.MaxBytes = 3000 * 20 // the byte bound binds first
	s := newStack(t, opts, f)
	if len(s.c.shards) != 16 {
		t.Fatalf("%d shards, want 16", len(s.c.shards))
	}
	c := ctx(t)
	for i := 0; i < 2*4096; i++ {
		ref := named(fmt.Sprintf("cred-%05d", i)) // 10 bytes
		f.seed(ref, &providers.Secret{Attributes: map[string]string{"p": fmt.Sprintf("%09d", i)}})
		if _, err := s.p.Get(c, ref); err != nil {
			t.Fatal(err)
		}
		if s.c.Len() > opts.MaxEntries || s.c.Bytes() > opts.MaxBytes {
			t.Fatalf("after %d: Len %d Bytes %d over the bounds", i, s.c.Len(), s.c.Bytes())
		}
	}
	var sum int64
	for _, sh := range s.c.shards {
		sum += sh.bytes
	}
	if sum != s.c.Bytes() {
		t.Fatalf("shards hold %d bytes, total says %d", sum, s.c.Bytes())
	}
}

func TestStaleIfError(t *testing.T) {
	for _, code := range []providers.Code{providers.Unavailable, providers.ResourceExhausted, providers.DeadlineExceeded} {
		t.Run(code.String(), func(t *testing.T) {
			f := newFake(false)
			f.seed(refA, secret("last-known"))
			s := newStack(t, baseOptions(), f)
			mustGet(t, s.p, refA)
			f.setFault(&providers.Error{Code: code, Reason: "vault down"})
			s.clock.Advance(time.Minute + 4*time.Minute) // past TTL, within the 5m grace
			got := mustGet(t, s.p, refA)
			if !got.Stale || got.Attributes["password"] != "last-known" {
				t.Fatalf("got stale=%v password %q, want the kept value marked stale", got.Stale, got.Attributes["password"])
			}
			if s.obs.stale.Load() != 1 {
				t.Fatalf("StaleServed %d, want 1", s.obs.stale.Load())
			}
			// The kept value itself is not marked.
			f.setFault(nil)
			s2 := mustGet(t, s.p, refA)
			if s2.Stale {
				t.Fatal("a value read from the vault is marked stale")
			}
			f.setFault(&providers.Error{Code: code, Reason: "vault down"})
			s.clock.Advance(time.Minute + 5*time.Minute) // past TTL and grace
			_, err := s.p.Get(ctx(t), refA)
			wantCode(t, err, code)
		})
	}
}

func TestNoStaleForOtherErrors(t *testing.T) {
	for _, code := range []providers.Code{providers.PermissionDenied, providers.Internal, providers.Unknown} {
		t.Run(code.String(), func(t *testing.T) {
			f := newFake(false)
			f.seed(refA, secret("x"))
			s := newStack(t, baseOptions(), f)
			mustGet(t, s.p, refA)
			f.setFault(&providers.Error{Code: code, Reason: "no"})
			s.clock.Advance(2 * time.Minute)
			_, err := s.p.Get(ctx(t), refA)
			wantCode(t, err, code)
		})
	}
	// NotFound from the vault drops the kept value: no stale after a delete.
	f := newFake(false)
	f.seed(refA, secret("x"))
	opts := baseOptions()
	opts.NegativeTTL = 0
	s := newStack(t, opts, f)
	mustGet(t, s.p, refA)
	f.mu.Lock()
	delete(f.secrets, fkey(refA))
	f.mu.Unlock()
	s.clock.Advance(2 * time.Minute)
	_, err := s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.NotFound)
	f.setFault(&providers.Error{Code: providers.Unavailable, Reason: "down"})
	_, err = s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.Unavailable)
}

func TestNoStaleWithoutGrace(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("x"))
	opts := baseOptions()
	opts.StaleGrace = 0
	s := newStack(t, opts, f)
	mustGet(t, s.p, refA)
	f.setFault(&providers.Error{Code: providers.Unavailable, Reason: "down"})
	s.clock.Advance(time.Minute)
	_, err := s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.Unavailable)
	fresh := refA
	fresh.Fresh = true
	_, err = s.p.Get(ctx(t), fresh)
	wantCode(t, err, providers.Unavailable)
}

func TestRotatingNeverCached(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("stable"))
	s := newStack(t, baseOptions(), f)
	mustGet(t, s.p, refA)
	if s.c.Len() != 1 {
		t.Fatalf("Len %d, want 1", s.c.Len())
	}
	rot := secret("mid-rotation")
	rot.Rotating = true
	f.seed(refA, rot)
	fresh := refA
	fresh.Fresh = true
	got := mustGet(t, s.p, fresh)
	if !got.Rotating || got.Attributes["password"] != "mid-rotation" {
		t.Fatalf("got rotating=%v %q", got.Rotating, got.Attributes["password"])
	}
	if s.c.Len() != 0 {
		t.Fatalf("Len %d after a rotating answer, want 0 (the kept value is dropped)", s.c.Len())
	}
	before := f.gets.Load()
	mustGet(t, s.p, refA)
	mustGet(t, s.p, refA)
	if n := f.gets.Load() - before; n != 2 {
		t.Fatalf("vault reads %d, want 2 (rotating values are never kept)", n)
	}
}

func TestPutAndDeleteInvalidate(t *testing.T) {
	f := newFake(true)
	v1 := refA
	v1.Version = "1"
	other := providers.Ref{Location: refA.Location, Name: "app_db_other"}
	f.seed(refA, secret("current"))
	f.seed(v1, secret("first"))
	f.seed(other, secret("other"))
	s := newStack(t, baseOptions(), f)
	if !s.p.Writable() {
		t.Fatal("a cache over a writable provider is not writable")
	}
	mustGet(t, s.p, refA)
	mustGet(t, s.p, v1)
	mustGet(t, s.p, other)

	if err := s.p.Put(ctx(t), refA, secret("new")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if s.c.Len() != 1 {
		t.Fatalf("Len %d after Put, want 1 (every version of the name dropped, the other name kept)", s.c.Len())
	}
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "new" {
		t.Fatalf("after Put: %q, want %q", got, "new")
	}

	// A failed write invalidates too: the vault's state is unknown.
	f.setFault(&providers.Error{Code: providers.Unavailable, Reason: "down"})
	err := s.p.Put(ctx(t), refA, secret("lost?"))
	wantCode(t, err, providers.Unavailable)
	f.setFault(nil)
	before := f.gets.Load()
	mustGet(t, s.p, refA)
	if f.gets.Load()-before != 1 {
		t.Fatal("a failed Put left the entry cached")
	}

	if err := s.p.Delete(ctx(t), refA); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = s.p.Get(ctx(t), refA)
	wantCode(t, err, providers.NotFound)
	err = s.p.Delete(ctx(t), refA)
	wantCode(t, err, providers.NotFound)
}

// A read in flight when a write invalidates does not store its answer.
func TestWriteDuringReadDoesNotStoreOldValue(t *testing.T) {
	f := newFake(true)
	f.seed(refA, secret("old"))
	s := newStack(t, baseOptions(), f)
	gate := f.hold()
	done := make(chan *providers.Secret, 1)
	go func() {
		v, _ := s.p.Get(context.Background(), refA)
		done <- v
	}()
	providertest.WaitFor(t, "the read in flight", func() bool { return f.inFlight.Load() == 1 })
	if err := s.p.Put(ctx(t), refA, secret("new")); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if v := <-done; v.Attributes["password"] != "old" {
		t.Fatalf("in-flight read got %q", v.Attributes["password"])
	}
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "new" {
		t.Fatalf("after the write: %q, want %q", got, "new")
	}
}

func TestReadOnlyStaysReadOnly(t *testing.T) {
	f := newFake(false)
	s := newStack(t, baseOptions(), f)
	if s.p.Writable() {
		t.Fatal("a cache over a read-only provider is writable")
	}
	err := s.p.Put(ctx(t), refA, secret("x"))
	wantCode(t, err, providers.FailedPrecondition)
}

func TestFreshReachesVaultAndRefreshes(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("old"))
	s := newStack(t, baseOptions(), f)
	mustGet(t, s.p, refA)
	f.seed(refA, secret("rotated"))
	fresh := refA
	fresh.Fresh = true
	if got := mustGet(t, s.p, fresh).Attributes["password"]; got != "rotated" {
		t.Fatalf("Fresh: %q, want %q", got, "rotated")
	}
	if got := mustGet(t, s.p, refA).Attributes["password"]; got != "rotated" {
		t.Fatalf("after Fresh: %q, want the refreshed %q", got, "rotated")
	}
	if n := f.gets.Load(); n != 2 {
		t.Fatalf("vault reads %d, want 2", n)
	}
	// Fresh with the vault down: the kept value, marked stale.
	f.setFault(&providers.Error{Code: providers.Unavailable, Reason: "down"})
	got := mustGet(t, s.p, fresh)
	if !got.Stale || got.Attributes["password"] != "rotated" {
		t.Fatalf("Fresh while down: stale=%v %q", got.Stale, got.Attributes["password"])
	}
}

// A Fresh request does not take the answer of a read that started before it
// arrived, plain or Fresh; Fresh requests waiting together share one read.
func TestFreshDoesNotJoinEarlierRead(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("v1"))
	s := newStack(t, baseOptions(), f)
	gate := f.hold()
	get := func(ref providers.Ref) chan *providers.Secret {
		ch := make(chan *providers.Secret, 1)
		go func() {
			v, err := s.p.Get(context.Background(), ref)
			if err != nil {
				t.Error(err)
			}
			ch <- v
		}()
		return ch
	}
	password := func(ch chan *providers.Secret) string {
		select {
		case v := <-ch:
			if v == nil {
				return "<error>"
			}
			return v.Attributes["password"]
		case <-time.After(10 * time.Second):
			t.Fatal("timed out waiting for a Get")
			return ""
		}
	}
	freshRef := refA
	freshRef.Fresh = true

	plain := get(refA) // read 1 sees v1
	providertest.WaitFor(t, "the plain read", func() bool { return f.inFlight.Load() == 1 })
	f.seed(refA, secret("v2"))
	first := get(freshRef) // read 2 sees v2
	providertest.WaitFor(t, "the first fresh read", func() bool { return f.inFlight.Load() == 2 && s.c.Waiting() == 2 })
	f.seed(refA, secret("v3"))
	const later = 20
	var rest []chan *providers.Secret
	for i := 0; i < later; i++ {
		rest = append(rest, get(freshRef))
	}
	providertest.WaitFor(t, "every caller waiting", func() bool { return s.c.Waiting() == 2+later })
	gate <- struct{}{}
	gate <- struct{}{}
	if got := password(plain); got != "v1" {
		t.Fatalf("plain: %q, want v1", got)
	}
	if got := password(first); got != "v2" {
		t.Fatalf("first fresh: %q, want v2", got)
	}
	// The later Fresh callers did not take read 2's answer; they share read 3.
	providertest.WaitFor(t, "the later fresh callers on one read", func() bool {
		return f.inFlight.Load() == 1 && s.c.joins.Load() == 2+2*later
	})
	gate <- struct{}{}
	for _, ch := range rest {
		if got := password(ch); got != "v3" {
			t.Fatalf("later fresh: %q, want v3", got)
		}
	}
	if n := f.gets.Load(); n != 3 {
		t.Fatalf("vault reads %d, want 3", n)
	}
}

func TestInvalidate(t *testing.T) {
	f := newFake(false)
	refs := []providers.Ref{
		{Location: "S1", Name: "app_a"}, {Location: "S1", Name: "app_b"}, {Location: "S1", Name: "web_a"},
		{Location: "S2", Name: "app_a"}, {Name: "app_c"},
	}
	for _, r := range refs {
		f.seed(r, secret(r.String()))
	}
	s := newStack(t, baseOptions(), f)
	for _, r := range refs {
		mustGet(t, s.p, r)
	}
	if n := s.c.Invalidate("S1", "app_"); n != 2 {
		t.Fatalf("Invalidate(S1, app_) = %d, want 2", n)
	}
	if n := s.c.Invalidate("", "app_"); n != 2 {
		t.Fatalf("Invalidate('', app_) = %d, want 2", n)
	}
	if s.c.Len() != 1 {
		t.Fatalf("Len %d, want 1", s.c.Len())
	}
	if n := s.c.InvalidateAll(); n != 1 {
		t.Fatalf("InvalidateAll = %d, want 1", n)
	}
	if s.c.Len() != 0 || s.c.Bytes() != 0 {
		t.Fatalf("Len %d Bytes %d after InvalidateAll", s.c.Len(), s.c.Bytes())
	}
}

func TestPassThrough(t *testing.T) {
	f := newFake(false)
	f.seed(refA, secret("x"))
	s := newStack(t, baseOptions(), f)
	if err := s.p.Check(ctx(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	f.setFault(&providers.Error{Code: providers.PermissionDenied, Reason: "denied"})
	wantCode(t, s.p.Check(ctx(t)), providers.PermissionDenied)
	f.setFault(nil)
	mustGet(t, s.p, refA)
	if err := s.p.Close(); err != nil {
		t.Fatal(err)
	}
	if !f.closed.Load() || s.c.Len() != 0 {
		t.Fatalf("Close: driver closed %v, Len %d", f.closed.Load(), s.c.Len())
	}
}

func TestOneCachePerProvider(t *testing.T) {
	c, err := New(baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	c.Middleware()(newFake(false))
	defer func() {
		if recover() == nil {
			t.Fatal("a second provider wrapped by the same Cache did not panic")
		}
	}()
	c.Middleware()(newFake(false))
}

// Errors the cache hands back never carry a secret value.
func TestErrorsHideSecrets(t *testing.T) {
	const value = "Tr0ub4dor&3-must-not-leak"
	f := newFake(false)
	f.seed(refA, &providers.Secret{Attributes: map[string]string{"password": value}})
	s := newStack(t, baseOptions(), f)
	mustGet(t, s.p, refA)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err1 := s.p.Get(c, refA)
	f.setFault(&providers.Error{Code: providers.Unavailable, Reason: "down"})
	s.clock.Advance(time.Hour)
	_, err2 := s.p.Get(ctx(t), refA)
	for _, err := range []error{err1, err2} {
		if err == nil || strings.Contains(fmt.Sprintf("%+v", err), value) {
			t.Fatalf("error %v: nil or carries the secret", err)
		}
	}
}
