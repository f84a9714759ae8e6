package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/secretbroker/secretbroker/providers/cache"
)

// CacheObserver returns the observer of the cache of the configured provider
// named provider: hits, misses, stale answers, evictions, entries and bytes.
// Its series exist, at zero, from this call on.
func (m *Metrics) CacheObserver(provider string) cache.Observer {
	return &cacheObserver{
		hits:      m.cacheHits.WithLabelValues(provider),
		misses:    m.cacheMisses.WithLabelValues(provider),
		stale:     m.cacheStale.WithLabelValues(provider),
		evictions: m.cacheEvictions.WithLabelValues(provider),
		entries:   m.cacheEntries.WithLabelValues(provider),
		bytes:     m.cacheBytes.WithLabelValues(provider),
	}
}

// cacheObserver implements cache.Observer with the children of one
// provider, resolved once.
type cacheObserver struct {
	hits, misses, stale, evictions prometheus.Counter
	entries, bytes                 prometheus.Gauge
}

// Hit counts a read answered from the cache.
func (o *cacheObserver) Hit() { o.hits.Inc() }

// Miss counts a read passed to the vault.
func (o *cacheObserver) Miss() { o.misses.Inc() }

// StaleServed counts a value served past its time to live.
func (o *cacheObserver) StaleServed() { o.stale.Inc() }

// Evicted counts n entries dropped to keep within the cache's bounds.
func (o *cacheObserver) Evicted(n int) {
	if n > 0 {
		o.evictions.Add(float64(n))
	}
}

// Size sets the cache's entries and bytes.
func (o *cacheObserver) Size(entries int, bytes int64) {
	o.entries.Set(float64(entries))
	o.bytes.Set(float64(bytes))
}
