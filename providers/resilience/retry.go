package resilience

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// RetryOptions configures Retry.
type RetryOptions struct {
	// Name names the provider in messages.
	Name string
	// MaxAttempts is the most calls made for one read, the first included;
	// 1 never retries. Required, positive.
	MaxAttempts int
	// BaseDelay is the back-off cap before the first retry; it doubles for
	// each retry after. Required (positive) when MaxAttempts > 1.
	BaseDelay time.Duration
	// MaxDelay caps the back-off. At least BaseDelay.
	MaxDelay time.Duration
	// Observer is told of each retry; nil observes nothing.
	Observer Observer
	// Sleep waits d or until ctx is done, returning ctx's error then; nil
	// uses a timer. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Retry returns a middleware that retries Get and Check (never Put or
// Delete) when next fails with a retryable code (providers.Retryable:
// Unavailable, ResourceExhausted), up to MaxAttempts calls in all.
//
// Before retry n (1, 2, ...) it waits a random time between 0 and
// min(MaxDelay, BaseDelay·2^(n-1)) (exponential back-off with full jitter),
// or the error's RetryAfter when that is longer. It never waits past the
// caller's deadline: when the wait would reach it, Retry returns the last
// error instead. A rejection by Limit (queue full) is not retried: the daemon
// is overloaded, and waiting would only add to it. The loop is hand-rolled
// (a dozen lines): cenkalti/backoff's jitter is ± a factor around the
// interval, not full jitter, and its RetryAfter and deadline handling would
// need as much code around it.
func Retry(opts RetryOptions) (providers.Middleware, error) {
	var errs []error
	if opts.MaxAttempts <= 0 {
		errs = append(errs, configError("retry.max_attempts", "must be positive", "use 1 for no retries, 3 for two retries"))
	}
	if opts.MaxAttempts > 1 {
		if opts.BaseDelay <= 0 {
			errs = append(errs, configError("retry.base_delay", "must be positive", "set a first back-off such as 100ms"))
		}
		if opts.MaxDelay < opts.BaseDelay {
			errs = append(errs, configError("retry.max_delay", "must be at least retry.base_delay", "set a cap such as 2s"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r := &retry{opts: opts, obs: observer(opts.Observer), sleep: opts.Sleep}
	if r.sleep == nil {
		r.sleep = sleep
	}
	return func(next providers.Provider) providers.Provider {
		return &guarded{g: r, next: next}
	}, nil
}

type retry struct {
	opts  RetryOptions
	obs   Observer
	sleep func(context.Context, time.Duration) error
}

func (r *retry) do(ctx context.Context, kind op, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || kind != opRead || attempt >= r.opts.MaxAttempts ||
			!providers.Retryable(providers.CodeOf(err)) || errors.Is(err, errQueueFull) || ctx.Err() != nil {
			return err
		}
		d := r.backoff(attempt, providers.RetryAfterOf(err))
		if dl, ok := ctx.Deadline(); ok && !time.Now().Add(d).Before(dl) {
			return err
		}
		if serr := r.sleep(ctx, d); serr != nil {
			return contextError(serr, r.opts.Name, "waiting to retry")
		}
		r.obs.Retried()
	}
}

// backoff returns the wait before retry n: full jitter under the exponential
// cap, or retryAfter when longer.
func (r *retry) backoff(n int, retryAfter time.Duration) time.Duration {
	ceiling := r.opts.MaxDelay
	if n-1 < 62 {
		if c := r.opts.BaseDelay << (n - 1); c > 0 && c < ceiling {
			ceiling = c
		}
	}
	d := rand.N(ceiling + 1)
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
