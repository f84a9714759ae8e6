package resilience

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

func TestConstructorsRejectBadOptions(t *testing.T) {
	cases := []struct {
		name  string
		build func() (providers.Middleware, error)
		field string
	}{
		{"timeout zero", func() (providers.Middleware, error) { return Timeout("p", 0) }, "timeout"},
		{"retry no attempts", func() (providers.Middleware, error) { return Retry(RetryOptions{}) }, "retry.max_attempts"},
		{"retry no base", func() (providers.Middleware, error) {
			return Retry(RetryOptions{MaxAttempts: 3, MaxDelay: time.Second})
		}, "retry.base_delay"},
		{"retry max under base", func() (providers.Middleware, error) {
			return Retry(RetryOptions{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Millisecond})
		}, "retry.max_delay"},
		{"limit none", func() (providers.Middleware, error) { return Limit(LimitOptions{}) }, "limit.max_in_flight"},
		{"limit negative queue", func() (providers.Middleware, error) {
			return Limit(LimitOptions{MaxInFlight: 1, MaxWaiting: -1})
		}, "limit.max_waiting"},
		{"breaker no failures", func() (providers.Middleware, error) {
			return Breaker(BreakerOptions{CoolDown: time.Second})
		}, "breaker.failures"},
		{"breaker no cool-down", func() (providers.Middleware, error) {
			return Breaker(BreakerOptions{Failures: 1})
		}, "breaker.cool_down"},
		{"new negative timeout", func() (providers.Middleware, error) { return New(Options{Timeout: -1}) }, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mw, err := c.build()
			var ce *providers.ConfigError
			if mw != nil || !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("got %v, want a ConfigError on %q", err, c.field)
			}
		})
	}
	_, err := New(Options{Retry: &RetryOptions{}, Limit: &LimitOptions{}, Breaker: &BreakerOptions{}})
	for _, f := range []string{"retry.max_attempts:", "limit.max_in_flight:", "breaker.failures:", "breaker.cool_down:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("New's error %v does not report %s", err, f)
		}
	}
	// A retry of one attempt needs no delays.
	if _, err := Retry(RetryOptions{MaxAttempts: 1}); err != nil {
		t.Fatalf("Retry with one attempt: %v", err)
	}
}

func retrying(t *testing.T, f *fake, s *sleeps, ev *events, attempts int) providers.Provider {
	t.Helper()
	mw, err := Retry(RetryOptions{Name: "vault1", MaxAttempts: attempts, BaseDelay: 10 * time.Millisecond,
		MaxDelay: time.Second, Sleep: s.Sleep, Observer: ev})
	if err != nil {
		t.Fatal(err)
	}
	return mw(f)
}

func TestRetryThrottledReadWithRetryAfter(t *testing.T) {
	f := &fake{}
	f.script(firstN(2, coded(providers.ResourceExhausted, 300*time.Millisecond)))
	s, ev := &sleeps{}, &events{}
	p := retrying(t, f, s, ev, 5)
	got, err := p.Get(testCtx(t), ref)
	if err != nil || got.Attributes["password"] != "pw-app_db" {
		t.Fatalf("Get: %v %v", got, err)
	}
	if n := f.reads.Load(); n != 3 {
		t.Fatalf("attempts %d, want 3", n)
	}
	// The vault's RetryAfter (300ms) is longer than any jittered back-off
	// (at most 10ms, then 20ms), so it is what Retry waited.
	if d := s.all(); len(d) != 2 || d[0] != 300*time.Millisecond || d[1] != 300*time.Millisecond {
		t.Fatalf("waits %v, want [300ms 300ms]", d)
	}
	if ev.retried.Load() != 2 {
		t.Fatalf("Retried %d, want 2", ev.retried.Load())
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	f := &fake{}
	f.script(always(coded(providers.Unavailable, 0)))
	s := &sleeps{}
	p := retrying(t, f, s, &events{}, 4)
	_, err := p.Get(testCtx(t), ref)
	wantCode(t, err, providers.Unavailable)
	if n := f.reads.Load(); n != 4 {
		t.Fatalf("attempts %d, want 4", n)
	}
	// Full jitter under a doubling cap: 10ms, 20ms, 40ms.
	for i, d := range s.all() {
		if ceiling := 10 * time.Millisecond << i; d < 0 || d > ceiling {
			t.Fatalf("wait %d: %v, want within [0, %v]", i+1, d, ceiling)
		}
	}
	// Check is a read: retried too.
	f.reads.Store(0)
	wantCode(t, p.Check(testCtx(t)), providers.Unavailable)
	if n := f.reads.Load(); n != 4 {
		t.Fatalf("Check attempts %d, want 4", n)
	}
}

func TestRetryOnlyRetryableReads(t *testing.T) {
	for _, c := range []providers.Code{providers.NotFound, providers.PermissionDenied, providers.InvalidArgument,
		providers.DeadlineExceeded, providers.Internal, providers.Unknown} {
		f := &fake{}
		f.script(always(coded(c, 0)))
		p := retrying(t, f, &sleeps{}, &events{}, 5)
		_, err := p.Get(testCtx(t), ref)
		wantCode(t, err, c)
		if n := f.reads.Load(); n != 1 {
			t.Fatalf("%v: attempts %d, want 1", c, n)
		}
	}
	// Writes are never retried.
	f := &fake{writable: true}
	f.script(always(coded(providers.Unavailable, 0)))
	p := retrying(t, f, &sleeps{}, &events{}, 5)
	wantCode(t, p.Put(testCtx(t), ref, &providers.Secret{}), providers.Unavailable)
	wantCode(t, p.Delete(testCtx(t), ref), providers.Unavailable)
	if n := f.writes.Load(); n != 2 {
		t.Fatalf("writes %d, want 2 (one each)", n)
	}
}

func TestRetryNeverSleepsPastDeadline(t *testing.T) {
	f := &fake{}
	f.script(always(coded(providers.ResourceExhausted, time.Hour)))
	s := &sleeps{}
	p := retrying(t, f, s, &events{}, 5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := p.Get(ctx, ref)
	wantCode(t, err, providers.ResourceExhausted)
	if providers.RetryAfterOf(err) != time.Hour {
		t.Fatalf("RetryAfter %v, want the vault's 1h", providers.RetryAfterOf(err))
	}
	if n, w := f.reads.Load(), len(s.all()); n != 1 || w != 0 {
		t.Fatalf("attempts %d waits %d, want 1 and 0", n, w)
	}
}

func TestRetryWaitHonoursCancel(t *testing.T) {
	f := &fake{}
	f.script(always(coded(providers.Unavailable, time.Hour)))
	mw, err := Retry(RetryOptions{Name: "v", MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := mw(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Get(ctx, ref)
		done <- err
	}()
	providertest.WaitFor(t, "the first attempt", func() bool { return f.reads.Load() == 1 })
	cancel()
	select {
	case err := <-done:
		wantCode(t, err, providers.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Get still waiting an hour to retry after its caller canceled")
	}
}

func TestBackoffFullJitter(t *testing.T) {
	r := &retry{opts: RetryOptions{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}}
	for n, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 70: time.Second} {
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			d := r.backoff(n, 0)
			if d < 0 || d > ceiling {
				t.Fatalf("retry %d: %v outside [0, %v]", n, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("retry %d: %d distinct waits in 200, want jitter", n, len(seen))
		}
		if d := r.backoff(n, 5*time.Second); d != 5*time.Second {
			t.Fatalf("retry %d with RetryAfter 5s: %v", n, d)
		}
	}
}

func limited(t *testing.T, f *fake, ev *events, inFlight, waiting int) (providers.Provider, *limit) {
	t.Helper()
	mw, err := Limit(LimitOptions{Name: "vault1", MaxInFlight: inFlight, MaxWaiting: waiting, Observer: ev})
	if err != nil {
		t.Fatal(err)
	}
	p := mw(f)
	return p, p.(*guarded).g.(*limit)
}

func TestLimitNeverMoreThanN(t *testing.T) {
	f := &fake{}
	const n, callers = 3, 40
	p, l := limited(t, f, &events{}, n, callers)
	gate := f.hold()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			if i%4 == 0 {
				err = p.Check(context.Background())
			} else {
				_, err = p.Get(context.Background(), ref)
			}
			errs <- err
		}(i)
	}
	providertest.WaitFor(t, "N in flight and the rest queued", func() bool {
		return f.inFlight.Load() == n && l.waiting.Load() == callers-n
	})
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := f.maxInFlight.Load(); m != n {
		t.Fatalf("at most %d in flight, want %d", m, n)
	}
}

func TestLimitQueueFull(t *testing.T) {
	f := &fake{writable: true}
	ev := &events{}
	p, l := limited(t, f, ev, 2, 1)
	gate := f.hold()
	results := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { results <- p.Put(context.Background(), ref, &providers.Secret{}) }()
	}
	providertest.WaitFor(t, "2 in flight and 1 queued", func() bool { return f.inFlight.Load() == 2 && l.waiting.Load() == 1 })
	_, err := p.Get(testCtx(t), ref)
	wantCode(t, err, providers.ResourceExhausted)
	if r := providers.ReasonOf(err); r != "too many requests queued for provider vault1" {
		t.Fatalf("reason %q", r)
	}
	if _, rejected := ev.snapshot(); len(rejected) != 1 || rejected[0] != RejectedQueueFull {
		t.Fatalf("rejections %v, want [queue_full]", rejected)
	}
	// A queued caller whose context ends leaves the queue.
	close(gate)
	for i := 0; i < 3; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	gate = f.hold()
	for i := 0; i < 2; i++ {
		go func() { _, err := p.Get(context.Background(), ref); results <- err }()
	}
	providertest.WaitFor(t, "2 in flight", func() bool { return f.inFlight.Load() == 2 })
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() { _, err := p.Get(ctx, ref); queued <- err }()
	providertest.WaitFor(t, "1 queued", func() bool { return l.waiting.Load() == 1 })
	cancel()
	wantCode(t, <-queued, providers.Canceled)
	if l.waiting.Load() != 0 {
		t.Fatalf("waiting %d after the cancel", l.waiting.Load())
	}
	close(gate)
	<-results
	<-results
}

func TestTimeoutPerCall(t *testing.T) {
	f := &fake{}
	mw, err := Timeout("vault1", 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	p := mw(f)
	f.hold() // the vault hangs
	_, err = p.Get(testCtx(t), ref)
	wantCode(t, err, providers.DeadlineExceeded)
	if r := providers.ReasonOf(err); r != "provider vault1 did not answer within 20ms" {
		t.Fatalf("reason %q", r)
	}
	// A caller's own sooner deadline is left alone: the error is the caller's.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err = p.Get(ctx, ref)
	wantCode(t, err, providers.DeadlineExceeded)
	if r := providers.ReasonOf(err); strings.Contains(r, "did not answer") {
		t.Fatalf("the caller's own deadline reported as the vault's: %q", r)
	}
	// Other errors pass unchanged.
	f2 := &fake{}
	f2.script(always(coded(providers.PermissionDenied, 0)))
	_, err = mw(f2).Get(testCtx(t), ref)
	wantCode(t, err, providers.PermissionDenied)
}

func breaking(t *testing.T, f *fake, ev *events, failures uint32, coolDown time.Duration) providers.Provider {
	t.Helper()
	mw, err := Breaker(BreakerOptions{Name: "vault1", Failures: failures, CoolDown: coolDown, Observer: ev})
	if err != nil {
		t.Fatal(err)
	}
	return mw(f)
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	f := &fake{}
	f.script(always(coded(providers.Unavailable, 0)))
	ev := &events{}
	p := breaking(t, f, ev, 3, 50*time.Millisecond)
	for i := 0; i < 3; i++ {
		_, err := p.Get(testCtx(t), ref)
		wantCode(t, err, providers.Unavailable)
	}
	_, err := p.Get(testCtx(t), ref)
	wantCode(t, err, providers.Unavailable)
	if n := f.reads.Load(); n != 3 {
		t.Fatalf("vault reads %d, want 3 (the 4th failed fast)", n)
	}
	if r := providers.ReasonOf(err); !strings.HasPrefix(r, "circuit open for provider vault1 (vault failing), retry after ~") {
		t.Fatalf("reason %q", r)
	}
	if ra := providers.RetryAfterOf(err); ra <= 0 || ra > 50*time.Millisecond {
		t.Fatalf("RetryAfter %v, want within the 50ms cool-down", ra)
	}
	f.script(nil) // the vault recovers
	providertest.WaitFor(t, "the circuit to close", func() bool {
		_, err := p.Get(testCtx(t), ref)
		return err == nil
	})
	if n := f.reads.Load(); n != 4 {
		t.Fatalf("vault reads %d, want 4 (one probe)", n)
	}
	states, rejected := ev.snapshot()
	want := []string{"vault1:closed", "vault1:open", "vault1:half-open", "vault1:closed"}
	if strings.Join(states, " ") != strings.Join(want, " ") {
		t.Fatalf("states %v, want %v", states, want)
	}
	if len(rejected) == 0 || rejected[0] != RejectedCircuitOpen {
		t.Fatalf("rejections %v", rejected)
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	f := &fake{}
	f.script(always(coded(providers.ResourceExhausted, 0)))
	ev := &events{}
	p := breaking(t, f, ev, 1, 20*time.Millisecond)
	_, err := p.Get(testCtx(t), ref)
	wantCode(t, err, providers.ResourceExhausted)
	providertest.WaitFor(t, "a probe", func() bool {
		p.Get(testCtx(t), ref)
		return f.reads.Load() == 2
	})
	states, _ := ev.snapshot()
	want := []string{"vault1:closed", "vault1:open", "vault1:half-open", "vault1:open"}
	if strings.Join(states, " ") != strings.Join(want, " ") {
		t.Fatalf("states %v, want %v", states, want)
	}
}

func TestBreakerCountsOnlyVaultFailures(t *testing.T) {
	f := &fake{}
	ev := &events{}
	p := breaking(t, f, ev, 2, time.Hour)
	unavailable := coded(providers.Unavailable, 0)
	steps := []error{
		unavailable,
		coded(providers.NotFound, 0), // the vault answered: resets
		unavailable,
		coded(providers.PermissionDenied, 0),
		unavailable,
		coded(providers.InvalidArgument, 0),
		unavailable,
	}
	for _, e := range steps {
		f.script(always(e))
		_, err := p.Get(testCtx(t), ref)
		wantCode(t, err, providers.CodeOf(e))
	}
	// The caller's own cancellation does not count either way.
	f.script(nil)
	f.hold()
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, err := p.Get(ctx, ref)
		cancel()
		wantCode(t, err, providers.DeadlineExceeded)
	}
	if states, _ := ev.snapshot(); len(states) != 1 {
		t.Fatalf("states %v, want closed throughout", states)
	}
	// One more vault failure after the excluded ones: two in a row, open.
	f2 := &fake{}
	p2 := breaking(t, f2, ev, 2, time.Hour)
	f2.script(always(unavailable))
	p2.Get(testCtx(t), ref)
	f2.script(nil)
	f2.hold()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p2.Get(ctx, ref)
	f2.mu.Lock()
	f2.gate = nil
	f2.mu.Unlock()
	f2.script(always(unavailable))
	p2.Get(testCtx(t), ref)
	_, err := p2.Get(testCtx(t), ref)
	if r := providers.ReasonOf(err); !strings.HasPrefix(r, "circuit open") {
		t.Fatalf("after two vault failures around a cancellation: %v", err)
	}
}

// A throttling vault: reads are retried with back-off, then the breaker
// trips and fails fast without calling the vault, half-opens after the
// cool-down, and closes when the vault recovers.
func TestThrottlingVaultRetriedThenTripsThenRecovers(t *testing.T) {
	f := &fake{}
	f.script(always(coded(providers.ResourceExhausted, 20*time.Millisecond)))
	ev := &events{}
	s := &sleeps{}
	mw, err := New(Options{
		Name:     "vault1",
		Observer: ev,
		Breaker:  &BreakerOptions{Failures: 2, CoolDown: 50 * time.Millisecond},
		Retry:    &RetryOptions{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, Sleep: s.Sleep},
		Limit:    &LimitOptions{MaxInFlight: 4, MaxWaiting: 16},
		Timeout:  time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := mw(f)
	for i := 0; i < 2; i++ {
		_, err := p.Get(testCtx(t), ref)
		wantCode(t, err, providers.ResourceExhausted)
	}
	if n := f.reads.Load(); n != 6 {
		t.Fatalf("vault reads %d, want 6 (3 attempts each)", n)
	}
	if w := s.all(); len(w) != 4 || w[0] != 20*time.Millisecond {
		t.Fatalf("waits %v, want four of the vault's 20ms", w)
	}
	if ev.retried.Load() != 4 {
		t.Fatalf("Retried %d, want 4", ev.retried.Load())
	}
	for i := 0; i < 5; i++ {
		_, err := p.Get(testCtx(t), ref)
		wantCode(t, err, providers.Unavailable)
	}
	if n := f.reads.Load(); n != 6 {
		t.Fatalf("vault reads %d while open, want still 6", n)
	}
	f.script(nil)
	providertest.WaitFor(t, "the circuit to close", func() bool {
		_, err := p.Get(testCtx(t), ref)
		return err == nil
	})
	if n := f.reads.Load(); n != 7 {
		t.Fatalf("vault reads %d, want 7 (one probe)", n)
	}
	states, _ := ev.snapshot()
	want := "vault1:closed vault1:open vault1:half-open vault1:closed"
	if got := strings.Join(states, " "); got != want {
		t.Fatalf("states %q, want %q", got, want)
	}
}

func TestWritabilityPreserved(t *testing.T) {
	mws := map[string]func() (providers.Middleware, error){
		"timeout": func() (providers.Middleware, error) { return Timeout("v", time.Second) },
		"retry": func() (providers.Middleware, error) {
			return Retry(RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
		},
		"limit": func() (providers.Middleware, error) { return Limit(LimitOptions{MaxInFlight: 1}) },
		"breaker": func() (providers.Middleware, error) {
			return Breaker(BreakerOptions{Failures: 1, CoolDown: time.Second})
		},
		"all": func() (providers.Middleware, error) {
			return New(Options{Name: "v", Timeout: time.Second, Limit: &LimitOptions{MaxInFlight: 1},
				Breaker: &BreakerOptions{Failures: 1, CoolDown: time.Second},
				Retry:   &RetryOptions{MaxAttempts: 1}})
		},
	}
	for name, build := range mws {
		for _, writable := range []bool{false, true} {
			mw, err := build()
			if err != nil {
				t.Fatal(err)
			}
			p := mw(&fake{writable: writable})
			if p.Writable() != writable {
				t.Fatalf("%s over a provider with Writable %v: %v", name, writable, p.Writable())
			}
			err = p.Put(testCtx(t), ref, &providers.Secret{})
			if writable && err != nil {
				t.Fatalf("%s: Put on a writable provider: %v", name, err)
			}
			if !writable {
				wantCode(t, err, providers.FailedPrecondition)
			}
		}
	}
}
