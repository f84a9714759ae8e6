package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/secretbroker/secretbroker/providers/resilience"
)

// rejectReasons are the reason labels of secretbroker_vault_rejected_total:
// the reasons package resilience gives, and "other" for any it may add.
var rejectReasons = [...]string{resilience.RejectedCircuitOpen, resilience.RejectedQueueFull, "other"}

// The values of secretbroker_circuit_state.
const (
	circuitClosed   = 0
	circuitHalfOpen = 1
	circuitOpen     = 2
)

// ResilienceObserver returns the observer of the circuit breaker, retries
// and concurrency limit of the configured provider named provider:
// secretbroker_circuit_state (0 closed, 1 half-open, 2 open),
// secretbroker_vault_retries_total and secretbroker_vault_rejected_total by
// reason (circuit_open, queue_full, other). The series are labelled with
// provider, whatever name the breaker reports.
func (m *Metrics) ResilienceObserver(provider string) resilience.Observer {
	o := &resilienceObserver{
		state:   m.circuitState.WithLabelValues(provider),
		retries: m.retries.WithLabelValues(provider),
	}
	for i, r := range rejectReasons {
		o.rejected[i] = m.rejected.WithLabelValues(provider, r)
	}
	return o
}

// resilienceObserver implements resilience.Observer with the children of
// one provider, resolved once.
type resilienceObserver struct {
	state    prometheus.Gauge
	retries  prometheus.Counter
	rejected [len(rejectReasons)]prometheus.Counter
}

// BreakerState sets the circuit state gauge; a state it does not know
// leaves the gauge as it is.
func (o *resilienceObserver) BreakerState(_ string, state string) {
	switch state {
	case "closed":
		o.state.Set(circuitClosed)
	case "half-open":
		o.state.Set(circuitHalfOpen)
	case "open":
		o.state.Set(circuitOpen)
	}
}

// Retried counts a retry.
func (o *resilienceObserver) Retried() { o.retries.Inc() }

// Rejected counts a call turned away, by reason.
func (o *resilienceObserver) Rejected(reason string) {
	i := len(rejectReasons) - 1
	switch reason {
	case resilience.RejectedCircuitOpen:
		i = 0
	case resilience.RejectedQueueFull:
		i = 1
	}
	o.rejected[i].Inc()
}
