package resilience

import (
	"context"
	"errors"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/secretbroker/secretbroker/providers"
)

// errQueueFull marks Limit's rejections, which Retry does not retry and
// Breaker does not count against the vault.
var errQueueFull = errors.New("queue full")

// LimitOptions configures Limit.
type LimitOptions struct {
	// Name names the provider in messages.
	Name string
	// MaxInFlight is the most calls to the vault at once. Required,
	// positive.
	MaxInFlight int
	// MaxWaiting is the most calls queued for a slot; a call beyond it fails
	// at once with ResourceExhausted. 0: none waits.
	MaxWaiting int
	// Observer is told of each rejection; nil observes nothing.
	Observer Observer
}

// Limit returns a middleware that lets at most MaxInFlight calls (of any
// kind) reach next at once, each provider it wraps having its own slots
// (golang.org/x/sync/semaphore, first come first served). A call waits for
// a slot as long as its context allows (then it gets Canceled or
// DeadlineExceeded); when MaxWaiting calls are already waiting it fails at
// once with ResourceExhausted "too many requests queued for provider NAME".
func Limit(opts LimitOptions) (providers.Middleware, error) {
	var errs []error
	if opts.MaxInFlight <= 0 {
		errs = append(errs, configError("limit.max_in_flight", "must be positive", "set a bound such as 16"))
	}
	if opts.MaxWaiting < 0 {
		errs = append(errs, configError("limit.max_waiting", "must not be negative", "use 0 for no queue, or a bound such as 256"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return func(next providers.Provider) providers.Provider {
		l := &limit{
			name:       opts.Name,
			sem:        semaphore.NewWeighted(int64(opts.MaxInFlight)),
			maxWaiting: int64(opts.MaxWaiting),
			obs:        observer(opts.Observer),
		}
		return &guarded{g: l, next: next}
	}, nil
}

type limit struct {
	name       string
	sem        *semaphore.Weighted
	waiting    atomic.Int64
	maxWaiting int64
	obs        Observer
}

func (l *limit) do(ctx context.Context, _ op, call func(context.Context) error) error {
	if !l.sem.TryAcquire(1) {
		if l.waiting.Add(1) > l.maxWaiting {
			l.waiting.Add(-1)
			l.obs.Rejected(RejectedQueueFull)
			return providers.Errorf(providers.ResourceExhausted, errQueueFull, "too many requests queued for provider %s", l.name)
		}
		err := l.sem.Acquire(ctx, 1)
		l.waiting.Add(-1)
		if err != nil {
			return contextError(err, l.name, "queued")
		}
	}
	defer l.sem.Release(1)
	return call(ctx)
}
