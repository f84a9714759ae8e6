// Package resilience protects a vault from the broker and the broker from a
// failing vault: providers.Middlewares for one provider instance that bound
// each call in time (Timeout), retry reads that failed for a reason that may
// pass (Retry), cap the calls in flight (Limit) and stop calling a vault that
// keeps failing (Breaker).
//
// # Order
//
// New stacks them, outermost first, as
//
//	cache → Breaker → Retry → Limit → Timeout → driver
//
// and that is the recommended order when wiring them one by one:
//
//   - The cache (package cache) is outermost so that a hit skips everything,
//     and so that its stale-if-error sees the errors the stack below returns
//     (an open circuit is Unavailable, a timeout DeadlineExceeded).
//   - Breaker above Retry: a call retried three times and still failing is
//     one failure, and an open circuit is not retried.
//   - Retry above Limit: a call waiting for its back-off does not hold one of
//     the Limit's slots; each attempt queues again.
//   - Limit above Timeout: time spent queued for a slot counts against the
//     caller's deadline but not against the per-call Timeout, which measures
//     the vault alone.
//   - Timeout next to the driver: each attempt gets its own deadline.
//
// Every error these middlewares return is either next's, unchanged, or a
// *providers.Error of their own, so providers.CodeOf classifies it without
// knowing the provider. Each middleware keeps next's Writable answer and
// passes Close through; Put and Delete go through every middleware but
// Retry's loop (writes are never retried).
package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// Reasons given to Observer.Rejected.
const (
	// RejectedQueueFull: Limit turned a call away because MaxWaiting calls
	// were already queued.
	RejectedQueueFull = "queue_full"
	// RejectedCircuitOpen: Breaker failed a call fast because the circuit
	// is open (or half-open with its probes in flight).
	RejectedCircuitOpen = "circuit_open"
)

// Observer receives the middlewares' events, for metrics. Its methods must
// be cheap and safe for concurrent use; BreakerState is called while the
// breaker holds its lock and must not call back into the provider.
type Observer interface {
	// BreakerState reports the breaker of the named provider entering state
	// "closed", "open" or "half-open" (and "closed" when it is built).
	BreakerState(name string, state string)
	// Retried is called before each retry of a read.
	Retried()
	// Rejected is called when a call is turned away without reaching the
	// vault, with RejectedQueueFull or RejectedCircuitOpen.
	Rejected(reason string)
}

// Options configures the whole stack that New builds. A nil part is left
// out.
type Options struct {
	// Name names the provider in messages and to the Observer; it is copied
	// into each part whose own Name is empty.
	Name string
	// Observer is copied into each part whose own Observer is nil.
	Observer Observer
	// Breaker configures the circuit breaker.
	Breaker *BreakerOptions
	// Retry configures retries of reads.
	Retry *RetryOptions
	// Limit configures the concurrency limit.
	Limit *LimitOptions
	// Timeout bounds each call to the driver; 0 leaves it out.
	Timeout time.Duration
}

// New returns the middleware that wraps a provider in the parts opts
// configures, in the recommended order (see the package comment), or the
// errors of every option it rejects.
func New(opts Options) (providers.Middleware, error) {
	var mws []providers.Middleware
	var errs []error
	add := func(mw providers.Middleware, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		mws = append(mws, mw)
	}
	if o := opts.Breaker; o != nil {
		b := *o
		b.Name = orName(b.Name, opts.Name)
		b.Observer = orObserver(b.Observer, opts.Observer)
		add(Breaker(b))
	}
	if o := opts.Retry; o != nil {
		r := *o
		r.Name = orName(r.Name, opts.Name)
		r.Observer = orObserver(r.Observer, opts.Observer)
		add(Retry(r))
	}
	if o := opts.Limit; o != nil {
		l := *o
		l.Name = orName(l.Name, opts.Name)
		l.Observer = orObserver(l.Observer, opts.Observer)
		add(Limit(l))
	}
	if opts.Timeout != 0 {
		add(Timeout(opts.Name, opts.Timeout))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return func(next providers.Provider) providers.Provider {
		return providers.Chain(next, mws...)
	}, nil
}

func orName(own, common string) string {
	if own == "" {
		return common
	}
	return own
}

func orObserver(own, common Observer) Observer {
	if own == nil {
		return common
	}
	return own
}

func observer(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}

type nopObserver struct{}

func (nopObserver) BreakerState(string, string) {}
func (nopObserver) Retried()                    {}
func (nopObserver) Rejected(string)             {}

func configError(field, problem, fix string) error {
	return &providers.ConfigError{Field: field, Problem: problem, Fix: fix}
}

// op says what a call to next is: reads may be retried, writes never.
type op int

const (
	opRead op = iota
	opWrite
)

// guard is what a middleware does around one call to next.
type guard interface {
	do(ctx context.Context, kind op, call func(context.Context) error) error
}

// guarded is a Provider whose calls to next go through a guard.
type guarded struct {
	g    guard
	next providers.Provider
}

func (p *guarded) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	var s *providers.Secret
	err := p.g.do(ctx, opRead, func(ctx context.Context) error {
		var err error
		s, err = p.next.Get(ctx, ref)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (p *guarded) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	return p.g.do(ctx, opWrite, func(ctx context.Context) error { return p.next.Put(ctx, ref, s) })
}

func (p *guarded) Delete(ctx context.Context, ref providers.Ref) error {
	return p.g.do(ctx, opWrite, func(ctx context.Context) error { return p.next.Delete(ctx, ref) })
}

func (p *guarded) Check(ctx context.Context) error {
	return p.g.do(ctx, opRead, p.next.Check)
}

func (p *guarded) Writable() bool { return p.next.Writable() }

func (p *guarded) Close() error { return p.next.Close() }

// contextError classifies the caller's own context ending while a
// middleware waited (for a slot, for a back-off).
func contextError(err error, name, while string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return providers.Errorf(providers.DeadlineExceeded, err, "deadline passed while %s for provider %s", while, name)
	}
	return providers.Errorf(providers.Canceled, err, "request canceled while %s for provider %s", while, name)
}

// seconds renders d for a message as a whole number of seconds, at least 1.
func seconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		s = 1
	}
	return fmt.Sprintf("%ds", s)
}
