package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cache"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// Durations whose value in seconds is exact in binary, so that histogram
// sums can be written as literals.
const (
	d512 = 1953125 * time.Nanosecond // 1/512 s = 0.001953125
	d256 = 2 * d512                  // 1/256 s = 0.00390625
	d64  = 8 * d512                  // 1/64 s = 0.015625
)

// stepClock returns a clock that advances by step at each reading, so that
// every call timed by the middleware takes exactly step.
func stepClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

// scrape returns the body of GET /metrics on m's handler, served on
// loopback.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

func TestScrapeAfterScriptedMix(t *testing.T) {
	m := New()
	m.now = stepClock(d512)

	for range 3 {
		m.Request(auth.OpCredential, providers.OK, "allowed", d256)
	}
	m.Request(auth.OpCredential, providers.NotFound, "allowed", d64)
	for range 2 {
		m.Request(auth.OpCredential, providers.NotFound, "denied", d512)
	}
	m.Request(auth.OpAutoLogin, providers.ResourceExhausted, "limited", 0)
	m.AuditFailed()
	m.ConfigReload(true)
	m.ConfigReload(false)
	m.ConfigReload(false)
	m.ProviderReady("store", true)
	m.ProviderReady("ark", false)

	co := m.CacheObserver("store")
	co.Hit()
	co.Hit()
	co.Miss()
	co.StaleServed()
	co.Evicted(3)
	co.Evicted(0)
	co.Size(5, 1024)

	ro := m.ResilienceObserver("store")
	ro.BreakerState("store", "open")
	ro.BreakerState("store", "half-open")
	ro.Retried()
	ro.Retried()
	ro.Rejected("circuit_open")
	ro.Rejected("queue_full")
	ro.Rejected("queue_full")
	ro.Rejected("something new")

	mem := providertest.NewMemory()
	mem.Seed(providers.Ref{Name: "a"}, &providers.Secret{Attributes: map[string]string{"password": "p"}})
	p := m.Middleware("store")(mem)
	ctx := context.Background()
	if _, err := p.Get(ctx, providers.Ref{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx, providers.Ref{Name: "missing"}); providers.CodeOf(err) != providers.NotFound {
		t.Fatalf("Get missing: %v, want NotFound", err)
	}
	if err := p.Put(ctx, providers.Ref{Name: "b"}, &providers.Secret{Attributes: map[string]string{"password": "q"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, providers.Ref{Name: "missing"}); providers.CodeOf(err) != providers.NotFound {
		t.Fatalf("Delete missing: %v, want NotFound", err)
	}
	if err := p.Check(ctx); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, want string
	}{
		{"secretbroker_requests_total", `
# HELP secretbroker_requests_total Requests served by the broker, by operation, outcome code and policy decision (allowed, denied, limited, none when the request failed before the policy was asked).
# TYPE secretbroker_requests_total counter
secretbroker_requests_total{code="NotFound",decision="allowed",operation="credential"} 1
secretbroker_requests_total{code="NotFound",decision="denied",operation="credential"} 2
secretbroker_requests_total{code="OK",decision="allowed",operation="credential"} 3
secretbroker_requests_total{code="ResourceExhausted",decision="limited",operation="autologin"} 1
`},
		{"secretbroker_request_duration_seconds", `
# HELP secretbroker_request_duration_seconds Time the broker took to answer a request, by operation.
# TYPE secretbroker_request_duration_seconds histogram
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.0001"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.00025"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.0005"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.001"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.0025"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.005"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.01"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.025"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.05"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.1"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.25"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="0.5"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="1"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="2.5"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="5"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="10"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="30"} 1
secretbroker_request_duration_seconds_bucket{operation="autologin",le="+Inf"} 1
secretbroker_request_duration_seconds_sum{operation="autologin"} 0
secretbroker_request_duration_seconds_count{operation="autologin"} 1
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.0001"} 0
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.00025"} 0
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.0005"} 0
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.001"} 0
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.0025"} 2
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.005"} 5
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.01"} 5
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.025"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.05"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.1"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.25"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="0.5"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="1"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="2.5"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="5"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="10"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="30"} 6
secretbroker_request_duration_seconds_bucket{operation="credential",le="+Inf"} 6
secretbroker_request_duration_seconds_sum{operation="credential"} 0.03125
secretbroker_request_duration_seconds_count{operation="credential"} 6
`},
		{"secretbroker_rate_limited_total", `
# HELP secretbroker_rate_limited_total Requests refused by a rate limit of the policy, by operation.
# TYPE secretbroker_rate_limited_total counter
secretbroker_rate_limited_total{operation="admin"} 0
secretbroker_rate_limited_total{operation="autologin"} 1
secretbroker_rate_limited_total{operation="check"} 0
secretbroker_rate_limited_total{operation="credential"} 0
secretbroker_rate_limited_total{operation="list"} 0
secretbroker_rate_limited_total{operation="resolve"} 0
secretbroker_rate_limited_total{operation="write"} 0
`},
		{"secretbroker_audit_write_failures_total", `
# HELP secretbroker_audit_write_failures_total Audit entries that could not be written.
# TYPE secretbroker_audit_write_failures_total counter
secretbroker_audit_write_failures_total 1
`},
		{"secretbroker_config_reloads_total", `
# HELP secretbroker_config_reloads_total Configuration reloads, by result (success, failure).
# TYPE secretbroker_config_reloads_total counter
secretbroker_config_reloads_total{result="failure"} 2
secretbroker_config_reloads_total{result="success"} 1
`},
		{"secretbroker_provider_ready", `
# HELP secretbroker_provider_ready Whether the provider's last health check passed (1) or not (0), by configured provider name.
# TYPE secretbroker_provider_ready gauge
secretbroker_provider_ready{provider="ark"} 0
secretbroker_provider_ready{provider="store"} 1
`},
		{"secretbroker_vault_calls_total", `
# HELP secretbroker_vault_calls_total Calls that reached a provider's driver, by provider, operation (get, put, delete, check) and outcome code.
# TYPE secretbroker_vault_calls_total counter
secretbroker_vault_calls_total{code="NotFound",op="delete",provider="store"} 1
secretbroker_vault_calls_total{code="NotFound",op="get",provider="store"} 1
secretbroker_vault_calls_total{code="OK",op="check",provider="store"} 1
secretbroker_vault_calls_total{code="OK",op="get",provider="store"} 1
secretbroker_vault_calls_total{code="OK",op="put",provider="store"} 1
`},
		{"secretbroker_vault_call_duration_seconds", `
# HELP secretbroker_vault_call_duration_seconds Time a provider's driver took to answer, by provider and operation.
# TYPE secretbroker_vault_call_duration_seconds histogram
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.0001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.00025"} 0
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.0005"} 0
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.0025"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.005"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.01"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.025"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.05"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.1"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.25"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="0.5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="1"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="2.5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="10"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="30"} 1
secretbroker_vault_call_duration_seconds_bucket{op="check",provider="store",le="+Inf"} 1
secretbroker_vault_call_duration_seconds_sum{op="check",provider="store"} 0.001953125
secretbroker_vault_call_duration_seconds_count{op="check",provider="store"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.0001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.00025"} 0
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.0005"} 0
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.0025"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.005"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.01"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.025"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.05"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.1"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.25"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="0.5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="1"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="2.5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="10"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="30"} 1
secretbroker_vault_call_duration_seconds_bucket{op="delete",provider="store",le="+Inf"} 1
secretbroker_vault_call_duration_seconds_sum{op="delete",provider="store"} 0.001953125
secretbroker_vault_call_duration_seconds_count{op="delete",provider="store"} 1
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.0001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.00025"} 0
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.0005"} 0
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.0025"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.005"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.01"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.025"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.05"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.1"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.25"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="0.5"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="1"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="2.5"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="5"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="10"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="30"} 2
secretbroker_vault_call_duration_seconds_bucket{op="get",provider="store",le="+Inf"} 2
secretbroker_vault_call_duration_seconds_sum{op="get",provider="store"} 0.00390625
secretbroker_vault_call_duration_seconds_count{op="get",provider="store"} 2
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.0001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.00025"} 0
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.0005"} 0
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.001"} 0
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.0025"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.005"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.01"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.025"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.05"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.1"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.25"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="0.5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="1"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="2.5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="5"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="10"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="30"} 1
secretbroker_vault_call_duration_seconds_bucket{op="put",provider="store",le="+Inf"} 1
secretbroker_vault_call_duration_seconds_sum{op="put",provider="store"} 0.001953125
secretbroker_vault_call_duration_seconds_count{op="put",provider="store"} 1
`},
		{"secretbroker_cache_hits_total", `
# HELP secretbroker_cache_hits_total Reads answered from a provider's cache (found secrets and cached NotFound answers).
# TYPE secretbroker_cache_hits_total counter
secretbroker_cache_hits_total{provider="store"} 2
`},
		{"secretbroker_cache_misses_total", `
# HELP secretbroker_cache_misses_total Reads a provider's cache passed to the vault (fresh reads included).
# TYPE secretbroker_cache_misses_total counter
secretbroker_cache_misses_total{provider="store"} 1
`},
		{"secretbroker_cache_stale_served_total", `
# HELP secretbroker_cache_stale_served_total Values served past their time to live because the vault failed (stale-if-error).
# TYPE secretbroker_cache_stale_served_total counter
secretbroker_cache_stale_served_total{provider="store"} 1
`},
		{"secretbroker_cache_evictions_total", `
# HELP secretbroker_cache_evictions_total Cache entries dropped to keep within the cache's size limits (not expiry or invalidation).
# TYPE secretbroker_cache_evictions_total counter
secretbroker_cache_evictions_total{provider="store"} 3
`},
		{"secretbroker_cache_entries", `
# HELP secretbroker_cache_entries Entries in a provider's cache.
# TYPE secretbroker_cache_entries gauge
secretbroker_cache_entries{provider="store"} 5
`},
		{"secretbroker_cache_bytes", `
# HELP secretbroker_cache_bytes Estimated bytes held by a provider's cache.
# TYPE secretbroker_cache_bytes gauge
secretbroker_cache_bytes{provider="store"} 1024
`},
		{"secretbroker_circuit_state", `
# HELP secretbroker_circuit_state State of a provider's circuit breaker: 0 closed, 1 half-open, 2 open.
# TYPE secretbroker_circuit_state gauge
secretbroker_circuit_state{provider="store"} 1
`},
		{"secretbroker_vault_retries_total", `
# HELP secretbroker_vault_retries_total Vault calls tried again after a retryable failure.
# TYPE secretbroker_vault_retries_total counter
secretbroker_vault_retries_total{provider="store"} 2
`},
		{"secretbroker_vault_rejected_total", `
# HELP secretbroker_vault_rejected_total Vault calls refused before reaching the vault, by provider and reason (circuit_open, queue_full, other).
# TYPE secretbroker_vault_rejected_total counter
secretbroker_vault_rejected_total{provider="store",reason="circuit_open"} 1
secretbroker_vault_rejected_total{provider="store",reason="other"} 1
secretbroker_vault_rejected_total{provider="store",reason="queue_full"} 2
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(tc.want), tc.name); err != nil {
				t.Error(err)
			}
		})
	}

	// The Go and process collectors are there too.
	body := scrape(t, m)
	for _, name := range []string{"go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("scrape has no %q", name)
		}
	}
}

// TestLabelsHoldNoCallerWords drives every method with values a caller
// could have typed or a vault could hold, each carrying a marker, and
// checks that no marker reaches the exposition.
func TestLabelsHoldNoCallerWords(t *testing.T) {
	const marker = "Qx7mark"
	m := New()
	mem := providertest.NewMemory()
	secret := &providers.Secret{Attributes: map[string]string{"username": "user-" + marker, "password": "pw-" + marker}, Version: "v-" + marker}
	ref := providers.Ref{Location: "safe-" + marker, Name: `ABCD\bot-` + marker, Reason: "purpose-" + marker}
	mem.Seed(ref, secret)
	p := m.Middleware("store")(mem)
	ctx := context.Background()
	if _, err := p.Get(ctx, ref); err != nil {
		t.Fatal(err)
	}
	missing := providers.Ref{Location: "safe-" + marker, Name: "missing-" + marker, Version: "ver-" + marker}
	if _, err := p.Get(ctx, missing); providers.CodeOf(err) != providers.NotFound {
		t.Fatalf("Get missing: %v, want NotFound", err)
	}
	mem.SetFault(providers.Errorf(providers.Unavailable, errors.New("inner-"+marker), "reason-%s", marker))
	if _, err := p.Get(ctx, ref); providers.CodeOf(err) != providers.Unavailable {
		t.Fatalf("Get with fault: %v, want Unavailable", err)
	}
	mem.SetFault(errors.New("unclassified-" + marker))
	if err := p.Put(ctx, ref, secret); providers.CodeOf(err) != providers.Unknown {
		t.Fatalf("Put with unclassified fault: %v, want Unknown", err)
	}

	m.Request(auth.OpCredential, providers.OK, "decision-"+marker, time.Millisecond)
	m.Request(auth.Operation(99), providers.Code(99), "limited", time.Millisecond)
	ro := m.ResilienceObserver("store")
	ro.BreakerState("name-"+marker, "state-"+marker)
	ro.Rejected("reason-" + marker)

	body := scrape(t, m)
	if strings.Contains(body, marker) {
		for _, l := range strings.Split(body, "\n") {
			if strings.Contains(l, marker) {
				t.Errorf("exposition holds a caller's word: %s", l)
			}
		}
	}
	// The values were counted, under fixed labels.
	for _, want := range []string{
		`secretbroker_requests_total{code="OK",decision="other",operation="credential"} 1`,
		`secretbroker_requests_total{code="Unknown",decision="limited",operation="unknown"} 1`,
		`secretbroker_rate_limited_total{operation="unknown"} 1`,
		`secretbroker_vault_calls_total{code="OK",op="get",provider="store"} 1`,
		`secretbroker_vault_calls_total{code="NotFound",op="get",provider="store"} 1`,
		`secretbroker_vault_calls_total{code="Unavailable",op="get",provider="store"} 1`,
		`secretbroker_vault_calls_total{code="Unknown",op="put",provider="store"} 1`,
		`secretbroker_vault_rejected_total{provider="store",reason="other"} 1`,
		`secretbroker_circuit_state{provider="store"} 0`,
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("scrape has no line %s", want)
		}
	}
}

// TestCacheStack runs a real cache over the metrics middleware over
// Memory: a hit is counted by the cache observer and never reaches the
// vault call counters.
func TestCacheStack(t *testing.T) {
	m := New()
	m.now = stepClock(d512)
	c, err := cache.New(cache.Options{TTL: time.Minute, MaxEntries: 10, Observer: m.CacheObserver("store")})
	if err != nil {
		t.Fatal(err)
	}
	mem := providertest.NewMemory()
	mem.Seed(providers.Ref{Name: "a"}, &providers.Secret{Attributes: map[string]string{"password": "p"}})
	p := providers.Chain(mem, c.Middleware(), m.Middleware("store"))
	ctx := context.Background()
	for range 3 {
		if _, err := p.Get(ctx, providers.Ref{Name: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Get(ctx, providers.Ref{Name: "a", Fresh: true}); err != nil {
		t.Fatal(err)
	}
	if got := mem.CallsOf(providertest.OpGet); got != 2 {
		t.Fatalf("Memory saw %d Gets, want 2", got)
	}
	const want = `
# HELP secretbroker_cache_hits_total Reads answered from a provider's cache (found secrets and cached NotFound answers).
# TYPE secretbroker_cache_hits_total counter
secretbroker_cache_hits_total{provider="store"} 2
# HELP secretbroker_cache_misses_total Reads a provider's cache passed to the vault (fresh reads included).
# TYPE secretbroker_cache_misses_total counter
secretbroker_cache_misses_total{provider="store"} 2
# HELP secretbroker_cache_entries Entries in a provider's cache.
# TYPE secretbroker_cache_entries gauge
secretbroker_cache_entries{provider="store"} 1
# HELP secretbroker_vault_calls_total Calls that reached a provider's driver, by provider, operation (get, put, delete, check) and outcome code.
# TYPE secretbroker_vault_calls_total counter
secretbroker_vault_calls_total{code="OK",op="get",provider="store"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"secretbroker_cache_hits_total", "secretbroker_cache_misses_total", "secretbroker_cache_entries", "secretbroker_vault_calls_total"); err != nil {
		t.Error(err)
	}
}

// okProvider answers every call at once, for the pass-through test and the
// benchmark.
type okProvider struct {
	secret   *providers.Secret
	err      error
	writable bool
	closed   int
}

func (p *okProvider) Get(context.Context, providers.Ref) (*providers.Secret, error) {
	return p.secret, p.err
}
func (p *okProvider) Put(context.Context, providers.Ref, *providers.Secret) error { return p.err }
func (p *okProvider) Delete(context.Context, providers.Ref) error                 { return p.err }
func (p *okProvider) Writable() bool                                              { return p.writable }
func (p *okProvider) Check(context.Context) error                                 { return p.err }
func (p *okProvider) Close() error                                                { p.closed++; return p.err }

func TestMiddlewarePassesThrough(t *testing.T) {
	m := New()
	s := &providers.Secret{Attributes: map[string]string{"password": "p"}}
	wantErr := providers.Errorf(providers.PermissionDenied, nil, "no")
	for _, writable := range []bool{false, true} {
		next := &okProvider{secret: s, err: wantErr, writable: writable}
		p := m.Middleware("p")(next)
		if got := p.Writable(); got != writable {
			t.Errorf("Writable() = %v, want %v", got, writable)
		}
		if got, err := p.Get(context.Background(), providers.Ref{Name: "a"}); got != s || err != wantErr {
			t.Errorf("Get = %v, %v; want the provider's own answer", got, err)
		}
		if err := p.Put(context.Background(), providers.Ref{Name: "a"}, s); err != wantErr {
			t.Errorf("Put = %v, want the provider's own error", err)
		}
		if err := p.Delete(context.Background(), providers.Ref{Name: "a"}); err != wantErr {
			t.Errorf("Delete = %v, want the provider's own error", err)
		}
		if err := p.Check(context.Background()); err != wantErr {
			t.Errorf("Check = %v, want the provider's own error", err)
		}
		if err := p.Close(); err != wantErr || next.closed != 1 {
			t.Errorf("Close = %v (closed %d times), want the provider's own error, closed once", err, next.closed)
		}
	}
	// Writable and Close are not calls to the vault; the others are.
	if n := testutil.CollectAndCount(m.vaultCalls); n != 4 {
		t.Errorf("vault_calls_total has %d series, want 4 (get, put, delete, check)", n)
	}
	if got := testutil.ToFloat64(m.vaultCalls.WithLabelValues("p", "get", "PermissionDenied")); got != 2 {
		t.Errorf("get PermissionDenied = %v, want 2", got)
	}
}

func TestForgetProvider(t *testing.T) {
	m := New()
	for _, name := range []string{"keep", "gone"} {
		m.ProviderReady(name, true)
		m.CacheObserver(name).Hit()
		m.ResilienceObserver(name).Retried()
		if _, err := m.Middleware(name)(&okProvider{}).Get(context.Background(), providers.Ref{Name: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	m.ForgetProvider("gone")
	body := scrape(t, m)
	if strings.Contains(body, `provider="gone"`) {
		t.Errorf("series of a forgotten provider are still exported")
	}
	for _, want := range []string{
		`secretbroker_provider_ready{provider="keep"} 1`,
		`secretbroker_cache_hits_total{provider="keep"} 1`,
		`secretbroker_vault_retries_total{provider="keep"} 1`,
		`secretbroker_vault_calls_total{code="OK",op="get",provider="keep"} 1`,
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("scrape has no line %s", want)
		}
	}
}

// TestRequestConcurrent has many goroutines resolve the same series for the
// first time at once: every call is counted once.
func TestRequestConcurrent(t *testing.T) {
	m := New()
	const goroutines, calls = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				m.Request(auth.OpResolve, providers.OK, "allowed", time.Millisecond)
				m.Request(auth.OpWrite, providers.ResourceExhausted, "limited", time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.requests.WithLabelValues("resolve", "OK", "allowed")); got != goroutines*calls {
		t.Errorf("resolve OK allowed = %v, want %d", got, goroutines*calls)
	}
	if got := testutil.ToFloat64(m.rateLimited.WithLabelValues("write")); got != goroutines*calls {
		t.Errorf("rate limited write = %v, want %d", got, goroutines*calls)
	}
	if n := testutil.CollectAndCount(m.requests); n != 2 {
		t.Errorf("requests_total has %d series, want 2", n)
	}
}

// TestHotPathDoesNotAllocate holds Request and the middleware to no
// allocation once their series exist.
func TestHotPathDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	m := New()
	p := m.Middleware("store")(&okProvider{secret: &providers.Secret{}})
	ctx := context.Background()
	ref := providers.Ref{Name: "a"}
	m.Request(auth.OpCredential, providers.OK, "allowed", time.Millisecond)
	if _, err := p.Get(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		m.Request(auth.OpCredential, providers.OK, "allowed", time.Millisecond)
	}); n != 0 {
		t.Errorf("Request allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = p.Get(ctx, ref) }); n != 0 {
		t.Errorf("middleware Get allocates %v times per call, want 0", n)
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			code := providers.OK
			if i%8 == 0 {
				code = providers.NotFound
			}
			m.Request(auth.OpCredential, code, "allowed", time.Millisecond)
			i++
		}
	})
}

func BenchmarkMiddlewareGet(b *testing.B) {
	m := New()
	p := m.Middleware("store")(&okProvider{secret: &providers.Secret{}})
	ctx := context.Background()
	ref := providers.Ref{Name: "a"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = p.Get(ctx, ref)
		}
	})
}
