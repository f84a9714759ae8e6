package resilience

import (
	"context"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// Timeout returns a middleware that gives each call to next a deadline d from
// now, unless the caller's own deadline is sooner. When that deadline (and
// not the caller's) ends the call, the error is a DeadlineExceeded
// *providers.Error "provider NAME did not answer within D", so that Breaker
// counts it against the vault and the cache may serve a stale value. d must
// be positive.
func Timeout(name string, d time.Duration) (providers.Middleware, error) {
	if d <= 0 {
		return nil, configError("timeout", "must be positive", "set a per-call timeout such as 5s, shorter than the callers' deadlines")
	}
	t := &timeout{name: name, d: d}
	return func(next providers.Provider) providers.Provider {
		return &guarded{g: t, next: next}
	}, nil
}

type timeout struct {
	name string
	d    time.Duration
}

func (t *timeout) do(ctx context.Context, _ op, call func(context.Context) error) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= t.d {
		return call(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	err := call(tctx)
	if err == nil || tctx.Err() == nil || ctx.Err() != nil {
		return err
	}
	switch providers.CodeOf(err) {
	case providers.DeadlineExceeded, providers.Canceled, providers.Unknown:
		return providers.Errorf(providers.DeadlineExceeded, err, "provider %s did not answer within %s", t.name, t.d)
	}
	return err
}
