// Package metrics holds the Prometheus metrics of the secretbroker daemon:
// the broker's requests and decisions, the vault calls below every provider,
// the read caches, the circuit breakers and retries, configuration reloads,
// provider readiness and the gRPC server, all on one registry of their own
// that the admin listener serves on /metrics.
//
// Label values come only from fixed vocabularies (operations, codes,
// decisions, rejection reasons) and from configured provider names; no label
// ever holds a username, a secret or locker name, or anything else a caller
// typed. The methods called on every request resolve their series once and
// then neither allocate nor take a lock.
package metrics

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/providers"
)

const namespace = "secretbroker"

// durationBuckets are the histogram buckets, in seconds, of requests and
// vault calls: from a cache hit (tens of microseconds) to the default
// request timeout (30s).
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// The decisions a broker.Observer is told, as labels. Any other string is
// counted as "other", so that the label keeps a fixed vocabulary.
var decisions = [...]string{"allowed", "denied", "limited", "none", "other"}

const (
	decisionLimited = 2
	decisionOther   = len(decisions) - 1
)

// unknownOp is the label of an auth.Operation that has no name.
const unknownOp = "unknown"

// Metrics is the daemon's set of metrics. Build it with New; it is safe for
// concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	grpc    *grpcprom.ServerMetrics
	unary   grpc.UnaryServerInterceptor
	stream  grpc.StreamServerInterceptor
	now     func() time.Time // clock of the vault call latencies; tests replace it

	// ops[i] is the label of auth.Operation(i); ops[0] is unknownOp.
	ops []string
	// codes[i] is the label of providers.Code(i).
	codes []string

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	rateLimited     *prometheus.CounterVec
	auditFailures   prometheus.Counter
	reloadSuccess   prometheus.Counter
	reloadFailure   prometheus.Counter
	providerReady   *prometheus.GaugeVec

	vaultCalls    *prometheus.CounterVec
	vaultDuration *prometheus.HistogramVec

	cacheHits      *prometheus.CounterVec
	cacheMisses    *prometheus.CounterVec
	cacheStale     *prometheus.CounterVec
	cacheEvictions *prometheus.CounterVec
	cacheEntries   *prometheus.GaugeVec
	cacheBytes     *prometheus.GaugeVec

	circuitState *prometheus.GaugeVec
	retries      *prometheus.CounterVec
	rejected     *prometheus.CounterVec

	// reqSeries holds the requests_total child of each (op, code,
	// decision), resolved at first use; see requestIndex.
	reqSeries []lazy[prometheus.Counter]
	// reqDuration and limited hold the per-operation children.
	reqDuration []lazy[prometheus.Observer]
	limited     []prometheus.Counter
}

// lazy is a metric child resolved at its first use and read without a lock
// afterwards.
type lazy[T any] struct{ p atomic.Pointer[T] }

// load returns the child, or ok false when it is not resolved yet.
func (l *lazy[T]) load() (v T, ok bool) {
	if p := l.p.Load(); p != nil {
		return *p, true
	}
	return v, false
}

// store keeps v unless another goroutine resolved the child first, and
// returns the child kept.
func (l *lazy[T]) store(v T) T {
	l.p.CompareAndSwap(nil, &v)
	return *l.p.Load()
}

// New returns the daemon's metrics, registered on a registry of their own
// (not the global one) together with the Go runtime and process collectors
// and the gRPC server metrics (grpc_server_*, handling-time histogram on).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, now: time.Now}

	m.ops = []string{unknownOp}
	for o := auth.Operation(1); ; o++ {
		if p, err := auth.ParseOperation(o.String()); err != nil || p != o {
			break
		}
		m.ops = append(m.ops, o.String())
	}
	for c := providers.Code(0); !strings.HasPrefix(c.String(), "Code("); c++ {
		m.codes = append(m.codes, c.String())
	}

	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: durationBuckets}, labels)
		reg.MustRegister(v)
		return v
	}

	m.requests = counter("requests_total", "Requests served by the broker, by operation, outcome code and policy decision (allowed, denied, limited, none when the request failed before the policy was asked).", "operation", "code", "decision")
	m.requestDuration = histogram("request_duration_seconds", "Time the broker took to answer a request, by operation.", "operation")
	m.rateLimited = counter("rate_limited_total", "Requests refused by a rate limit of the policy, by operation.", "operation")
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "audit_write_failures_total", Help: "Audit entries that could not be written."})
	reg.MustRegister(m.auditFailures)
	reloads := counter("config_reloads_total", "Configuration reloads, by result (success, failure).", "result")
	m.reloadSuccess = reloads.WithLabelValues("success")
	m.reloadFailure = reloads.WithLabelValues("failure")
	m.providerReady = gauge("provider_ready", "Whether the provider's last health check passed (1) or not (0), by configured provider name.", "provider")

	m.vaultCalls = counter("vault_calls_total", "Calls that reached a provider's driver, by provider, operation (get, put, delete, check) and outcome code.", "provider", "op", "code")
	m.vaultDuration = histogram("vault_call_duration_seconds", "Time a provider's driver took to answer, by provider and operation.", "provider", "op")

	m.cacheHits = counter("cache_hits_total", "Reads answered from a provider's cache (found secrets and cached NotFound answers).", "provider")
	m.cacheMisses = counter("cache_misses_total", "Reads a provider's cache passed to the vault (fresh reads included).", "provider")
	m.cacheStale = counter("cache_stale_served_total", "Values served past their time to live because the vault failed (stale-if-error).", "provider")
	m.cacheEvictions = counter("cache_evictions_total", "Cache entries dropped to keep within the cache's size limits (not expiry or invalidation).", "provider")
	m.cacheEntries = gauge("cache_entries", "Entries in a provider's cache.", "provider")
	m.cacheBytes = gauge("cache_bytes", "Estimated bytes held by a provider's cache.", "provider")

	m.circuitState = gauge("circuit_state", "State of a provider's circuit breaker: 0 closed, 1 half-open, 2 open.", "provider")
	m.retries = counter("vault_retries_total", "Vault calls tried again after a retryable failure.", "provider")
	m.rejected = counter("vault_rejected_total", "Vault calls refused before reaching the vault, by provider and reason ("+strings.Join(rejectReasons[:], ", ")+").", "provider", "reason")

	m.grpc = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(durationBuckets)))
	reg.MustRegister(m.grpc)
	m.unary = m.grpc.UnaryServerInterceptor()
	m.stream = m.grpc.StreamServerInterceptor()

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.reqSeries = make([]lazy[prometheus.Counter], len(m.ops)*len(m.codes)*len(decisions))
	m.reqDuration = make([]lazy[prometheus.Observer], len(m.ops))
	m.limited = make([]prometheus.Counter, len(m.ops))
	for i := 1; i < len(m.ops); i++ {
		m.limited[i] = m.rateLimited.WithLabelValues(m.ops[i])
	}
	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return m
}

// Registry returns the registry the metrics are registered on, for
// collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the HTTP handler of /metrics: the registry in the
// Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// UnaryServerInterceptor returns the interceptor that records the gRPC
// server metrics of unary calls.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor { return m.unary }

// StreamServerInterceptor returns the interceptor that records the gRPC
// server metrics of streaming calls.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor { return m.stream }

// InitializeGRPC creates the gRPC series of every method registered on s,
// at zero, so that they exist before the first call. Call it after the
// services are registered.
func (m *Metrics) InitializeGRPC(s *grpc.Server) { m.grpc.InitializeMetrics(s) }

// opIndex returns op's index in m.ops: 0 (unknown) when op has no name.
func (m *Metrics) opIndex(op auth.Operation) int {
	if op > 0 && int(op) < len(m.ops) {
		return int(op)
	}
	return 0
}

// codeIndex returns c's index in m.codes: Unknown when c has no name.
func (m *Metrics) codeIndex(c providers.Code) int {
	if c >= 0 && int(c) < len(m.codes) {
		return int(c)
	}
	return int(providers.Unknown)
}

// decisionIndex returns d's index in decisions: other when d is not one of
// the broker's decisions.
func decisionIndex(d string) int {
	switch d {
	case "allowed":
		return 0
	case "denied":
		return 1
	case "limited":
		return decisionLimited
	case "none":
		return 3
	}
	return decisionOther
}

// Request records a request the broker answered: its operation, outcome
// code, policy decision (allowed, denied, limited, none) and time taken. A
// limited request also counts in secretbroker_rate_limited_total. It
// implements broker.Observer.
func (m *Metrics) Request(op auth.Operation, code providers.Code, decision string, elapsed time.Duration) {
	o, c, d := m.opIndex(op), m.codeIndex(code), decisionIndex(decision)
	s := &m.reqSeries[(o*len(m.codes)+c)*len(decisions)+d]
	cnt, ok := s.load()
	if !ok {
		cnt = s.store(m.requests.WithLabelValues(m.ops[o], m.codes[c], decisions[d]))
	}
	cnt.Inc()
	h, ok := m.reqDuration[o].load()
	if !ok {
		h = m.reqDuration[o].store(m.requestDuration.WithLabelValues(m.ops[o]))
	}
	h.Observe(elapsed.Seconds())
	if d == decisionLimited {
		if m.limited[o] == nil { // an operation without a name: rare, not pre-resolved
			m.rateLimited.WithLabelValues(m.ops[o]).Inc()
			return
		}
		m.limited[o].Inc()
	}
}

// AuditFailed records an audit entry that could not be written. It
// implements broker.Observer.
func (m *Metrics) AuditFailed() { m.auditFailures.Inc() }

// ConfigReload records a configuration reload that succeeded (ok) or
// failed.
func (m *Metrics) ConfigReload(ok bool) {
	if ok {
		m.reloadSuccess.Inc()
		return
	}
	m.reloadFailure.Inc()
}

// ProviderReady records whether the configured provider named provider
// passed its last health check.
func (m *Metrics) ProviderReady(provider string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.providerReady.WithLabelValues(provider).Set(v)
}

// ForgetProvider deletes every series labelled with the configured provider
// named provider, for a reload that removed it from the configuration.
// Observers and middlewares already built for it keep working but are no
// longer exported.
func (m *Metrics) ForgetProvider(provider string) {
	l := prometheus.Labels{"provider": provider}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.providerReady, m.vaultCalls, m.vaultDuration,
		m.cacheHits, m.cacheMisses, m.cacheStale, m.cacheEvictions, m.cacheEntries, m.cacheBytes,
		m.circuitState, m.retries, m.rejected,
	} {
		v.DeletePartialMatch(l)
	}
}
