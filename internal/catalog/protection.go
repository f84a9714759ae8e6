package catalog

import (
	"time"

	"github.com/secretbroker/secretbroker/internal/config"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/resilience"
)

// ProtectionObserver receives the breaker's, the retries' and the limit's
// events.
type ProtectionObserver = resilience.Observer

// protection returns the backend protection of a provider: a circuit
// breaker, retries of reads with jittered backoff, a concurrency limit and a
// timeout per vault call, with the defaults for what the configuration
// leaves out.
func protection(name string, p *config.Protection, obs ProtectionObserver) ([]providers.Middleware, error) {
	var c config.Protection
	if p != nil {
		c = *p
	}
	opts := resilience.Options{Name: name, Observer: obs, Timeout: DefaultVaultTimeout}
	if c.Timeout > 0 {
		opts.Timeout = c.Timeout
	}
	attempts := DefaultMaxAttempts
	if c.MaxAttempts > 0 {
		attempts = c.MaxAttempts
	}
	opts.Retry = &resilience.RetryOptions{MaxAttempts: attempts, BaseDelay: 50 * time.Millisecond, MaxDelay: 2 * time.Second}
	conc := DefaultMaxConcurrency
	if c.MaxConcurrency > 0 {
		conc = c.MaxConcurrency
	}
	opts.Limit = &resilience.LimitOptions{MaxInFlight: conc, MaxWaiting: DefaultMaxWaiting}
	failures := DefaultBreakerFailures
	if c.BreakerFailures > 0 {
		failures = c.BreakerFailures
	}
	cool := DefaultBreakerCoolDown
	if c.BreakerCoolDown > 0 {
		cool = c.BreakerCoolDown
	}
	if c.BreakerFailures >= 0 {
		opts.Breaker = &resilience.BreakerOptions{Failures: uint32(failures), CoolDown: cool}
	}
	mw, err := resilience.New(opts)
	if err != nil {
		return nil, err
	}
	return []providers.Middleware{mw}, nil
}
