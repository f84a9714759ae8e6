package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// fake is a small provider whose answers a test scripts: fail(n) gives the
// error for the n-th read (from 1), nil for a normal answer. It counts calls,
// measures how many are in flight at once, and can hold calls until the test
// lets them go.
type fake struct {
	writable bool

	mu   sync.Mutex
	fail func(n int64) error
	gate chan struct{}

	reads, writes         atomic.Int64
	inFlight, maxInFlight atomic.Int64
}

func (f *fake) script(fail func(n int64) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *fake) hold() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	return f.gate
}

func (f *fake) enter(ctx context.Context) error {
	n := f.inFlight.Add(1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return providers.Errorf(providers.CodeOf(err), err, "fake: context done")
	}
	return nil
}

func (f *fake) read(ctx context.Context) error {
	n := f.reads.Add(1)
	defer f.inFlight.Add(-1)
	if err := f.enter(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return fail(n)
	}
	return nil
}

func (f *fake) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	return &providers.Secret{Attributes: map[string]string{"password": "pw-" + ref.Name}}, nil
}

func (f *fake) write(ctx context.Context) error {
	f.writes.Add(1)
	defer f.inFlight.Add(-1)
	if err := f.enter(ctx); err != nil {
		return err
	}
	if !f.writable {
		return providers.NotWritable("fake")
	}
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return fail(0)
	}
	return nil
}

func (f *fake) Put(ctx context.Context, _ providers.Ref, _ *providers.Secret) error {
	return f.write(ctx)
}

func (f *fake) Delete(ctx context.Context, _ providers.Ref) error { return f.write(ctx) }

func (f *fake) Writable() bool { return f.writable }

func (f *fake) Check(ctx context.Context) error { return f.read(ctx) }

func (f *fake) Close() error { return nil }

// always fails every call with err.
func always(err error) func(int64) error { return func(int64) error { return err } }

// firstN fails the first n reads with err.
func firstN(n int64, err error) func(int64) error {
	return func(i int64) error {
		if i <= n {
			return err
		}
		return nil
	}
}

func coded(c providers.Code, retryAfter time.Duration) error {
	return &providers.Error{Code: c, Reason: "fake " + c.String(), RetryAfter: retryAfter}
}

// events is an Observer that records.
type events struct {
	mu       sync.Mutex
	states   []string
	rejected []string
	retried  atomic.Int64
}

func (e *events) BreakerState(name, state string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states = append(e.states, name+":"+state)
}

func (e *events) Retried() { e.retried.Add(1) }

func (e *events) Rejected(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rejected = append(e.rejected, reason)
}

func (e *events) snapshot() (states, rejected []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.states...), append([]string(nil), e.rejected...)
}

// sleeps is an injected Sleep that records and does not wait.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, want providers.Code) {
	t.Helper()
	if got := providers.CodeOf(err); got != want {
		t.Fatalf("error %v classified %v, want %v", err, got, want)
	}
}

var ref = providers.Ref{Name: "app_db"}
