// Package cache is the read cache of one provider: a providers.Middleware
// that answers repeated Gets for the same secret from memory, so a burst of
// robots starting at once costs the vault one read per credential, and that
// keeps serving what it last read, marked Stale, for a bounded time while the
// vault is down (stale-if-error).
//
// The cache is the outermost middleware of a provider's stack (see package
// resilience for the rest of the chain): a hit skips the circuit breaker,
// retries, the concurrency limit and the timeout, a miss goes through them.
//
// What it keeps and for how long:
//
//   - A found secret for Options.TTL, keyed on Ref.Location, Ref.Name and
//     Ref.Version (never Reason or Fresh). Values live in memory only; the
//     cache stores a copy and hands out copies.
//   - NotFound for Options.NegativeTTL (0: not at all).
//   - Nothing for a secret whose Rotating flag is set (and any kept value for
//     that key is dropped).
//   - Entries past their TTL stay up to Options.StaleGrace longer, to be
//     served (with Secret.Stale set) only when the vault fails with
//     Unavailable, ResourceExhausted or DeadlineExceeded.
//
// Misses for the same key that arrive while a read is in flight share that
// read (golang.org/x/sync/singleflight). The shared read runs under a
// context of its own: context.WithoutCancel of the first caller's (so its
// values, such as a trace, carry on) with a deadline of Options.FetchTimeout,
// not the first caller's deadline. A caller-specific deadline would impose
// one caller's budget on all the others (a caller with 1 s left would fail a
// caller with 10 s left), and a caller going away would fail everyone
// waiting. Each waiter still returns as soon as its own context is done; the
// read carries on for the others and its answer still fills the cache. To
// bound what a slow vault costs each caller, and so to get stale-if-error
// before callers give up, put resilience.Timeout (shorter than the callers'
// deadlines) below the cache.
//
// Ref.Fresh bypasses the cached value: the answer comes from a vault read
// that started after the Fresh request arrived, and it refreshes the entry.
// Fresh requests share reads with other Fresh requests, but only reads that
// started after they arrived, so a burst of them (every robot whose login
// just failed on a rotated password) costs a read or two, not one each. If
// that read fails with Unavailable, ResourceExhausted or DeadlineExceeded,
// a Fresh request too gets the kept value, marked Stale, within its TTL plus
// StaleGrace.
//
// The cache is split into up to 16 shards, each an LRU
// (github.com/hashicorp/golang-lru/v2 simplelru, with an eviction callback
// that keeps the byte count) under its own mutex, so that hits on different
// secrets do not queue on one lock. MaxEntries and MaxBytes are divided
// evenly among the shards and eviction is least-recently-used within a
// shard. Below 512 entries there is a single shard and the LRU is exact.
package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/secretbroker/secretbroker/providers"
)

// DefaultFetchTimeout bounds a vault read shared by waiting callers when
// Options.FetchTimeout is 0.
const DefaultFetchTimeout = 30 * time.Second

const (
	maxShards   = 16
	minPerShard = 256
)

// Observer receives the cache's events, for metrics. Its methods are called
// on the request path and must be cheap and safe for concurrent use.
type Observer interface {
	// Hit is called when a Get is answered from the cache (a found secret
	// or a cached NotFound).
	Hit()
	// Miss is called when a Get goes to the vault (Fresh requests included).
	Miss()
	// StaleServed is called when a value past its TTL is served because the
	// vault failed.
	StaleServed()
	// Evicted is called with the number of entries dropped to keep within
	// MaxEntries or MaxBytes (not for expiry or invalidation).
	Evicted(n int)
	// Size is called with the cache's entries and bytes after they change.
	Size(entries int, bytes int64)
}

// Options configures a Cache.
type Options struct {
	// TTL is how long a found secret is served from the cache. Required,
	// positive.
	TTL time.Duration
	// NegativeTTL is how long a NotFound answer is served from the cache; 0
	// does not cache NotFound. At most TTL.
	NegativeTTL time.Duration
	// MaxEntries bounds the number of entries (found and NotFound).
	// Required, positive.
	MaxEntries int
	// MaxBytes bounds the sum of the sizes of the entries, a size being the
	// lengths of Location, Name and Version plus those of every attribute's
	// key and value. Least recently used entries are evicted until the sum
	// is under the bound; a secret larger than its shard's share is not
	// cached. 0: no bound on bytes.
	MaxBytes int64
	// StaleGrace is how long past its TTL a found secret may still be served,
	// marked Stale, when the vault fails with Unavailable, ResourceExhausted
	// or DeadlineExceeded. 0: never serve stale.
	StaleGrace time.Duration
	// FetchTimeout bounds a vault read that the cache makes on behalf of
	// several callers (see the package comment). 0: DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Clock returns the current time; nil is time.Now.
	Clock func() time.Time
	// Observer receives hits, misses, stale answers, evictions and size;
	// nil observes nothing.
	Observer Observer
}

// Cache is the read cache of one provider instance. Build one per provider
// and wrap the provider with Middleware; the methods other than Middleware
// let an operator or a reload drop entries and read the cache's size.
type Cache struct {
	ttl, negTTL, grace, fetchTimeout time.Duration
	clock                            func() time.Time
	obs                              Observer

	shards []*shard
	mask   uint64
	seed   maphash.Seed

	group   singleflight.Group
	seq     atomic.Uint64 // numbers vault reads, for Fresh requests
	entries atomic.Int64
	bytes   atomic.Int64
	waiting atomic.Int64
	joins   atomic.Uint64 // calls to group.DoChan, for tests
	wrapped atomic.Bool
}

type key struct{ location, name, version string }

// entry is immutable once stored.
type entry struct {
	secret     *frozen   // nil for a cached NotFound
	err        error     // the NotFound error, for a cached NotFound
	expires    time.Time // served as fresh before this
	staleUntil time.Time // kept (for stale-if-error) before this
	size       int64
}

type shard struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[key, *entry]
	bytes    int64
	maxBytes int64
	gen      uint64 // bumped by every invalidation, so reads in flight do not store
}

// New returns a Cache configured by opts, or the errors of every option it
// rejects (each a *providers.ConfigError whose Field is the option's name in
// snake case, for the configuration loader to prefix).
func New(opts Options) (*Cache, error) {
	var errs []error
	bad := func(field, problem, fix string) {
		errs = append(errs, &providers.ConfigError{Field: field, Problem: problem, Fix: fix})
	}
	if opts.TTL <= 0 {
		bad("ttl", "must be positive", "set a time to live such as 5m")
	}
	if opts.NegativeTTL < 0 {
		bad("negative_ttl", "must not be negative", "use 0 not to cache NotFound")
	} else if opts.TTL > 0 && opts.NegativeTTL > opts.TTL {
		bad("negative_ttl", "must not be longer than ttl", "use a shorter time, such as 30s")
	}
	if opts.MaxEntries <= 0 {
		bad("max_entries", "must be positive", "set a bound such as 10000")
	}
	if opts.MaxBytes < 0 {
		bad("max_bytes", "must not be negative", "use 0 for no bound on bytes")
	}
	if opts.StaleGrace < 0 {
		bad("stale_grace", "must not be negative", "use 0 never to serve stale values")
	}
	if opts.FetchTimeout < 0 {
		bad("fetch_timeout", "must not be negative", "use 0 for the default of 30s")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &Cache{
		ttl:          opts.TTL,
		negTTL:       opts.NegativeTTL,
		grace:        opts.StaleGrace,
		fetchTimeout: opts.FetchTimeout,
		clock:        opts.Clock,
		obs:          opts.Observer,
		seed:         maphash.MakeSeed(),
	}
	if c.fetchTimeout == 0 {
		c.fetchTimeout = DefaultFetchTimeout
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	n := 1
	for n < maxShards && opts.MaxEntries/(2*n) >= minPerShard {
		n *= 2
	}
	c.shards = make([]*shard, n)
	c.mask = uint64(n - 1)
	for i := range c.shards {
		s := &shard{maxBytes: opts.MaxBytes / int64(n)}
		if int64(i) < opts.MaxBytes%int64(n) {
			s.maxBytes++
		}
		size := opts.MaxEntries / n
		if i < opts.MaxEntries%n {
			size++
		}
		lru, err := simplelru.NewLRU(size, func(_ key, e *entry) {
			s.bytes -= e.size
			c.bytes.Add(-e.size)
			c.entries.Add(-1)
		})
		if err != nil { // unreachable: size is positive
			return nil, err
		}
		s.lru = lru
		c.shards[i] = s
	}
	return c, nil
}

// Middleware validates opts at once, like New, and returns a middleware that
// gives every provider it wraps a Cache of its own. Use New and
// (*Cache).Middleware instead where the Cache itself is wanted (Invalidate,
// Len, Bytes).
func Middleware(opts Options) (providers.Middleware, error) {
	if _, err := New(opts); err != nil {
		return nil, err
	}
	return func(next providers.Provider) providers.Provider {
		c, err := New(opts)
		if err != nil { // unreachable: opts were valid above
			panic(err)
		}
		return c.Middleware()(next)
	}, nil
}

// Middleware returns the middleware that puts c in front of a provider. A
// Cache serves one provider: applying its middleware to a second provider
// panics, because the two would share entries.
func (c *Cache) Middleware() providers.Middleware {
	return func(next providers.Provider) providers.Provider {
		if !c.wrapped.CompareAndSwap(false, true) {
			panic("cache: one Cache wraps one provider; build a Cache per provider")
		}
		return &provider{c: c, next: next}
	}
}

// Len returns the number of entries, found and NotFound, including those
// past their TTL kept for stale-if-error.
func (c *Cache) Len() int { return int(c.entries.Load()) }

// Bytes returns the sum of the sizes of the entries (see Options.MaxBytes).
func (c *Cache) Bytes() int64 { return c.bytes.Load() }

// Waiting returns the number of Get calls waiting for a vault read, their
// own or one they share.
func (c *Cache) Waiting() int { return int(c.waiting.Load()) }

// Invalidate removes the entries whose Location is location (any Location
// when location is "") and whose Name starts with namePrefix, and returns how
// many it removed. Reads in flight when it is called do not store their
// answers.
func (c *Cache) Invalidate(location, namePrefix string) int {
	n := 0
	for _, s := range c.shards {
		n += s.removeIf(func(k key) bool {
			return (location == "" || k.location == location) && hasPrefix(k.name, namePrefix)
		})
	}
	c.reportSize()
	return n
}

// InvalidateAll removes every entry and returns how many it removed.
func (c *Cache) InvalidateAll() int {
	n := 0
	for _, s := range c.shards {
		s.mu.Lock()
		s.gen++
		n += s.lru.Len()
		s.lru.Purge()
		s.mu.Unlock()
	}
	c.reportSize()
	return n
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

func (c *Cache) shardFor(k key) *shard {
	if c.mask == 0 {
		return c.shards[0]
	}
	// Versions of one name share a shard, so a write invalidates one shard.
	h := maphash.String(c.seed, k.name) ^ (maphash.String(c.seed, k.location) * 0x9e3779b97f4a7c15)
	return c.shards[h&c.mask]
}

func (c *Cache) reportSize() { c.obs.Size(int(c.entries.Load()), c.bytes.Load()) }

// lookup returns the entry for k when it may be served as fresh at now. It
// drops an entry past its stale grace.
func (s *shard) lookup(k key, now time.Time) (*entry, bool) {
	s.mu.Lock()
	e, ok := s.lru.Get(k)
	if ok && !now.Before(e.expires) {
		if !now.Before(e.staleUntil) {
			s.lru.Remove(k)
		}
		ok = false
	}
	s.mu.Unlock()
	return e, ok
}

// staleEntry returns the found secret kept for k if now is within its stale
// grace (or its TTL), or nil.
func (s *shard) staleEntry(k key, now time.Time) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Peek(k)
	if !ok || e.secret == nil || !now.Before(e.staleUntil) {
		return nil
	}
	return e
}

func (s *shard) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// store puts e under k unless an invalidation of the shard happened since
// gen, then evicts least recently used entries down to the byte bound, and
// reports evictions and the new size.
func (c *Cache) store(s *shard, k key, e *entry, gen uint64) {
	evicted := 0
	s.mu.Lock()
	if s.gen == gen {
		s.lru.Remove(k)
		if s.maxBytes == 0 || e.size <= s.maxBytes {
			c.entries.Add(1)
			c.bytes.Add(e.size)
			s.bytes += e.size
			if s.lru.Add(k, e) {
				evicted++
			}
			for s.maxBytes > 0 && s.bytes > s.maxBytes {
				if _, _, ok := s.lru.RemoveOldest(); !ok {
					break
				}
				evicted++
			}
		}
	}
	s.mu.Unlock()
	if evicted > 0 {
		c.obs.Evicted(evicted)
	}
	c.reportSize()
}

// remove drops k without counting an eviction.
func (s *shard) remove(k key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Remove(k)
}

// removeIf drops every entry whose key matches, and stops reads in flight in
// this shard from storing their answers.
func (s *shard) removeIf(match func(key) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	n := 0
	for _, k := range s.lru.Keys() {
		if match(k) {
			s.lru.Remove(k)
			n++
		}
	}
	return n
}

// entryOverhead and attributeOverhead approximate what an entry costs in
// memory beyond its strings' bytes (the entry, its LRU node, the key, the
// frozen secret; each attribute's two string headers), so that MaxBytes
// bounds the memory the cache really holds.
const (
	entryOverhead     = 320
	attributeOverhead = 32
)

func sizeOf(k key, s *frozen) int64 {
	n := entryOverhead + len(k.location) + len(k.name) + len(k.version)
	if s != nil {
		n += len(s.version)
		for _, v := range s.kv {
			n += len(v) + attributeOverhead/2
		}
	}
	return int64(n)
}

// frozen is a secret as the cache keeps it: its attributes as one slice of
// key, value pairs rather than a map (a small Go map costs several hundred
// bytes; every hit builds the caller's own map anyway).
type frozen struct {
	kv      []string
	version string
	updated time.Time
}

func freeze(s *providers.Secret) *frozen {
	f := &frozen{kv: make([]string, 0, 2*len(s.Attributes)), version: s.Version, updated: s.UpdatedAt}
	for k, v := range s.Attributes {
		f.kv = append(f.kv, k, v)
	}
	return f
}

// thaw returns a new Secret the caller may change.
func (f *frozen) thaw() *providers.Secret {
	attrs := make(map[string]string, len(f.kv)/2)
	for i := 0; i+1 < len(f.kv); i += 2 {
		attrs[f.kv[i]] = f.kv[i+1]
	}
	return &providers.Secret{Attributes: attrs, Version: f.version, UpdatedAt: f.updated}
}

// result is what a shared vault read gives every caller waiting on it.
type result struct {
	secret *providers.Secret // not to be changed: each caller returns a clone
	err    error
	seq    uint64
}

// provider is a Provider wrapped by a Cache.
type provider struct {
	c    *Cache
	next providers.Provider
}

// Get answers from the cache, or reads from next (once for all concurrent
// misses of the same key) and keeps the answer.
func (p *provider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, contextError(err)
	}
	c := p.c
	k := key{ref.Location, ref.Name, ref.Version}
	s := c.shardFor(k)
	if !ref.Fresh {
		if e, ok := s.lookup(k, c.clock()); ok {
			c.obs.Hit()
			if e.secret == nil {
				return nil, e.err
			}
			return e.secret.thaw(), nil
		}
	}
	c.obs.Miss()
	r, err := p.read(ctx, ref, k, s)
	if err != nil {
		return nil, err
	}
	if r.err == nil {
		return r.secret.Clone(), nil
	}
	switch providers.CodeOf(r.err) {
	case providers.Unavailable, providers.ResourceExhausted, providers.DeadlineExceeded:
		if c.grace > 0 {
			if e := s.staleEntry(k, c.clock()); e != nil {
				c.obs.StaleServed()
				v := e.secret.thaw()
				v.Stale = true
				return v, nil
			}
		}
	}
	return nil, r.err
}

// read waits for a vault read of k, joining one in flight when it may: any
// plain one for a plain request, only a Fresh one that started after it
// arrived for a Fresh request. It returns an error only when ctx is done
// first.
func (p *provider) read(ctx context.Context, ref providers.Ref, k key, s *shard) (*result, error) {
	c := p.c
	flight := k.location + "\x00" + k.name + "\x00" + k.version
	var arrived uint64
	if ref.Fresh {
		// Fresh requests share reads among themselves only: a plain read may
		// be answered from the cache (see load).
		flight += "\x00fresh"
		arrived = c.seq.Load()
	}
	for {
		ch := c.group.DoChan(flight, func() (any, error) {
			return p.load(ctx, ref, k, s), nil
		})
		c.joins.Add(1)
		c.waiting.Add(1)
		var res singleflight.Result
		select {
		case <-ctx.Done():
			c.waiting.Add(-1)
			return nil, contextError(ctx.Err())
		case res = <-ch:
			c.waiting.Add(-1)
			r := res.Val.(*result)
			if ref.Fresh && r.seq <= arrived {
				// That read started before this request arrived; the next
				// one cannot (singleflight forgets a key before it answers).
				continue
			}
			return r, nil
		}
	}
}

// load reads k from next under a context of its own (see the package
// comment) and keeps the answer.
func (p *provider) load(ctx context.Context, ref providers.Ref, k key, s *shard) *result {
	c := p.c
	seq := c.seq.Add(1)
	if !ref.Fresh {
		// A read that finished between this caller's miss and its joining
		// may have stored the answer already.
		if e, ok := s.lookup(k, c.clock()); ok {
			r := &result{err: e.err, seq: seq}
			if e.secret != nil {
				r.secret = e.secret.thaw()
			}
			return r
		}
	}
	gen := s.generation()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout)
	defer cancel()
	v, err := p.next.Get(fctx, ref)
	if err == nil && v == nil {
		err = providers.Errorf(providers.Internal, nil, "provider returned neither a secret nor an error")
	}
	now := c.clock()
	switch {
	case err == nil && v.Rotating:
		if s.remove(k) {
			c.reportSize()
		}
	case err == nil:
		kept := freeze(v)
		e := &entry{secret: kept, expires: now.Add(c.ttl), staleUntil: now.Add(c.ttl + c.grace), size: sizeOf(k, kept)}
		c.store(s, k, e, gen)
	case providers.CodeOf(err) == providers.NotFound:
		if c.negTTL > 0 {
			exp := now.Add(c.negTTL)
			c.store(s, k, &entry{err: err, expires: exp, staleUntil: exp, size: sizeOf(k, nil)}, gen)
		} else if s.remove(k) {
			c.reportSize()
		}
	}
	return &result{secret: v, err: err, seq: seq}
}

// Put writes through to next and then drops every cached version of the
// name, whether the write succeeded or not (after a failure the vault's
// state is unknown).
func (p *provider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	err := p.next.Put(ctx, ref, s)
	p.invalidateName(ref)
	return err
}

// Delete deletes through next and then drops every cached version of the
// name, whether the delete succeeded or not.
func (p *provider) Delete(ctx context.Context, ref providers.Ref) error {
	err := p.next.Delete(ctx, ref)
	p.invalidateName(ref)
	return err
}

func (p *provider) invalidateName(ref providers.Ref) {
	k := key{location: ref.Location, name: ref.Name}
	if p.c.shardFor(k).removeIf(func(o key) bool { return o.location == k.location && o.name == k.name }) > 0 {
		p.c.reportSize()
	}
}

// Writable is next's answer.
func (p *provider) Writable() bool { return p.next.Writable() }

// Check asks next; the cache plays no part in health.
func (p *provider) Check(ctx context.Context) error { return p.next.Check(ctx) }

// Close drops every entry and closes next.
func (p *provider) Close() error {
	p.c.InvalidateAll()
	return p.next.Close()
}

func contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return providers.Errorf(providers.DeadlineExceeded, err, "deadline passed before the provider answered")
	}
	return providers.Errorf(providers.Canceled, err, "request canceled before the provider answered")
}

type nopObserver struct{}

func (nopObserver) Hit()            {}
func (nopObserver) Miss()           {}
func (nopObserver) StaleServed()    {}
func (nopObserver) Evicted(int)     {}
func (nopObserver) Size(int, int64) {}
