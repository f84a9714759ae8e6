package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secretbroker/secretbroker/providers"
)

// The operations of a provider, as the op label of the vault call metrics.
const (
	vaultGet = iota
	vaultPut
	vaultDelete
	vaultCheck
	numVaultOps
)

var vaultOps = [numVaultOps]string{"get", "put", "delete", "check"}

// Middleware returns the middleware that records every call reaching the
// provider below it (the driver of the configured provider named provider):
// secretbroker_vault_calls_total by op (get, put, delete, check) and outcome
// code (providers.CodeOf), and secretbroker_vault_call_duration_seconds by
// op. Writable and Close pass through unrecorded. Wire it just above the
// driver, below the cache and the breaker, so that it counts the calls the
// vault itself sees.
func (m *Metrics) Middleware(provider string) providers.Middleware {
	return func(next providers.Provider) providers.Provider {
		v := &vaultMetrics{m: m, next: next, provider: provider}
		v.calls = make([]lazy[prometheus.Counter], numVaultOps*len(m.codes))
		for op := range v.duration {
			v.duration[op] = m.vaultDuration.WithLabelValues(provider, vaultOps[op])
		}
		return v
	}
}

// vaultMetrics is the provider Middleware returns.
type vaultMetrics struct {
	m        *Metrics
	next     providers.Provider
	provider string
	calls    []lazy[prometheus.Counter] // by op*len(codes)+code
	duration [numVaultOps]prometheus.Observer
}

// record counts one call of op that started at start and ended with err.
func (v *vaultMetrics) record(op int, start time.Time, err error) {
	v.duration[op].Observe(v.m.now().Sub(start).Seconds())
	c := v.m.codeIndex(providers.CodeOf(err))
	s := &v.calls[op*len(v.m.codes)+c]
	cnt, ok := s.load()
	if !ok {
		cnt = s.store(v.m.vaultCalls.WithLabelValues(v.provider, vaultOps[op], v.m.codes[c]))
	}
	cnt.Inc()
}

// Get reads through to the provider below and records the call.
func (v *vaultMetrics) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	start := v.m.now()
	s, err := v.next.Get(ctx, ref)
	v.record(vaultGet, start, err)
	return s, err
}

// Put writes through to the provider below and records the call.
func (v *vaultMetrics) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	start := v.m.now()
	err := v.next.Put(ctx, ref, s)
	v.record(vaultPut, start, err)
	return err
}

// Delete deletes through the provider below and records the call.
func (v *vaultMetrics) Delete(ctx context.Context, ref providers.Ref) error {
	start := v.m.now()
	err := v.next.Delete(ctx, ref)
	v.record(vaultDelete, start, err)
	return err
}

// Check checks the provider below and records the call.
func (v *vaultMetrics) Check(ctx context.Context) error {
	start := v.m.now()
	err := v.next.Check(ctx)
	v.record(vaultCheck, start, err)
	return err
}

// Writable returns the answer of the provider below.
func (v *vaultMetrics) Writable() bool { return v.next.Writable() }

// Close closes the provider below.
func (v *vaultMetrics) Close() error { return v.next.Close() }
