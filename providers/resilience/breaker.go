package resilience

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/secretbroker/secretbroker/providers"
)

// BreakerOptions configures Breaker.
type BreakerOptions struct {
	// Name names the provider in messages and to the Observer.
	Name string
	// Failures is how many failures in a row open the circuit. Required,
	// positive.
	Failures uint32
	// CoolDown is how long the circuit stays open before letting probes
	// through. Required, positive.
	CoolDown time.Duration
	// Probes is how many calls the half-open circuit lets through; all must
	// succeed to close it, and one failure opens it again. 0 means 1.
	Probes uint32
	// Observer is told of state changes and rejections; nil observes
	// nothing.
	Observer Observer
}

// Breaker returns a middleware with a circuit breaker
// (github.com/sony/gobreaker/v2) per provider it wraps.
//
// A call fails, for the breaker, when next returns Unavailable,
// ResourceExhausted or DeadlineExceeded while the caller's own context is
// still live: the vault is down, throttling or hung. The caller's own
// cancellation or deadline, and Limit's queue-full rejections, are not
// counted at all; any other answer (NotFound, PermissionDenied,
// InvalidArgument, ...) is the vault answering, and counts as a success.
//
// After Failures failures in a row the circuit opens: every call fails at
// once, without reaching the vault, with Unavailable "circuit open for
// provider NAME (vault failing), retry after ~Ns" and RetryAfter set to the
// rest of the cool-down. After CoolDown it lets Probes calls through; if they
// succeed it closes, if one fails it opens again.
func Breaker(opts BreakerOptions) (providers.Middleware, error) {
	var errs []error
	if opts.Failures == 0 {
		errs = append(errs, configError("breaker.failures", "must be positive", "set the failures in a row that open the circuit, such as 5"))
	}
	if opts.CoolDown <= 0 {
		errs = append(errs, configError("breaker.cool_down", "must be positive", "set how long the circuit stays open, such as 30s"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.Probes == 0 {
		opts.Probes = 1
	}
	return func(next providers.Provider) providers.Provider {
		b := &breaker{name: opts.Name, coolDown: opts.CoolDown, obs: observer(opts.Observer)}
		b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        opts.Name,
			MaxRequests: opts.Probes,
			Timeout:     opts.CoolDown,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.Failures },
			OnStateChange: func(name string, _, to gobreaker.State) {
				if to == gobreaker.StateOpen {
					b.openedAt.Store(time.Now().UnixNano())
				}
				b.obs.BreakerState(name, to.String())
			},
			IsSuccessful: func(err error) bool { return err == nil || verdictOf(err) == success },
			IsExcluded:   func(err error) bool { return verdictOf(err) == excluded },
		})
		b.obs.BreakerState(opts.Name, gobreaker.StateClosed.String())
		return &guarded{g: b, next: next}
	}, nil
}

type breaker struct {
	name     string
	coolDown time.Duration
	obs      Observer
	cb       *gobreaker.CircuitBreaker[struct{}]
	openedAt atomic.Int64 // unix nanoseconds
}

type verdict int

const (
	success verdict = iota
	failure
	excluded
)

// judged carries the breaker's verdict on an error through gobreaker, which
// sees only errors.
type judged struct {
	err error
	v   verdict
}

func (j *judged) Error() string { return j.err.Error() }

func verdictOf(err error) verdict {
	if j, ok := err.(*judged); ok {
		return j.v
	}
	return failure
}

func (b *breaker) do(ctx context.Context, _ op, call func(context.Context) error) error {
	_, err := b.cb.Execute(func() (struct{}, error) {
		err := call(ctx)
		if err == nil {
			return struct{}{}, nil
		}
		return struct{}{}, &judged{err: err, v: judge(ctx, err)}
	})
	if j, ok := err.(*judged); ok {
		return j.err
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		b.obs.Rejected(RejectedCircuitOpen)
		wait := b.retryAfter()
		return &providers.Error{
			Code:       providers.Unavailable,
			Reason:     "circuit open for provider " + b.name + " (vault failing), retry after ~" + seconds(wait),
			RetryAfter: wait,
			Err:        err,
		}
	}
	return err
}

func judge(ctx context.Context, err error) verdict {
	if ctx.Err() != nil || errors.Is(err, errQueueFull) {
		return excluded
	}
	switch providers.CodeOf(err) {
	case providers.Unavailable, providers.ResourceExhausted, providers.DeadlineExceeded:
		return failure
	case providers.Canceled:
		return excluded
	}
	return success
}

// retryAfter is what is left of the cool-down, or (half-open, probes in
// flight) a second at most.
func (b *breaker) retryAfter() time.Duration {
	left := b.coolDown - time.Since(time.Unix(0, b.openedAt.Load()))
	if left <= 0 {
		left = min(time.Second, b.coolDown)
	}
	return left
}
