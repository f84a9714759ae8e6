package providertest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

func TestMemoryConformance(t *testing.T) {
	providertest.Run(t, providertest.NewMemoryHarness(), providertest.Options{BinaryValues: true})
}

// passThrough is the smallest middleware: it forwards every call and
// counts the Gets it forwards.
type passThrough struct {
	providers.Provider
	gets *atomic.Int64
}

func (p passThrough) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	p.gets.Add(1)
	return p.Provider.Get(ctx, ref)
}

func TestMemoryConformanceWrapped(t *testing.T) {
	var outer, inner atomic.Int64
	var order []string
	mw := func(name string, n *atomic.Int64) providers.Middleware {
		return func(next providers.Provider) providers.Provider {
			order = append(order, name)
			return passThrough{Provider: next, gets: n}
		}
	}
	providertest.Run(t, providertest.NewMemoryHarness(), providertest.Options{
		BinaryValues: true,
		Middlewares:  []providers.Middleware{mw("outer", &outer), mw("inner", &inner)},
	})
	if outer.Load() == 0 || outer.Load() != inner.Load() {
		t.Fatalf("the middlewares saw %d and %d Gets; want the same, more than 0", outer.Load(), inner.Load())
	}
	// Chain applies the last middleware first, so that the first is outermost.
	if len(order) < 2 || order[0] != "inner" || order[1] != "outer" {
		t.Fatalf("wrapping order %v", order[:min(len(order), 4)])
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMemoryCountersAndFaults(t *testing.T) {
	m := providertest.NewMemory()
	ctx := ctxT(t)
	ref := providers.Ref{Name: "a"}
	m.Seed(ref, &providers.Secret{Attributes: map[string]string{"password": "x"}})
	if m.Calls() != 0 {
		t.Fatalf("Seed counted as a call: %d", m.Calls())
	}
	if _, err := m.Get(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "y"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := [4]int64{m.CallsOf(providertest.OpGet), m.CallsOf(providertest.OpPut), m.CallsOf(providertest.OpDelete), m.CallsOf(providertest.OpCheck)}, [4]int64{1, 1, 0, 1}; got != want {
		t.Fatalf("CallsOf = %v, want %v", got, want)
	}
	if m.Calls() != 3 || m.CallsOf(providertest.Op(99)) != 0 {
		t.Fatalf("Calls = %d", m.Calls())
	}

	down := providers.Errorf(providers.Unavailable, nil, "down")
	m.SetFault(down)
	_, err := m.Get(ctx, ref)
	if !errors.Is(err, down) {
		t.Fatalf("Get with a fault: %v", err)
	}
	if !errors.Is(m.Check(ctx), down) {
		t.Fatal("Check ignores the fault")
	}
	if s, ok := m.Stored(ref); !ok || s.Attributes["password"] != "y" || s.Version != "2" {
		t.Fatalf("Stored = %v, %v", s, ok)
	}
	m.SetFault(nil)
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after the fault ended: %v", err)
	}
	if m.Calls() != 6 {
		t.Fatalf("failed calls are not counted: %d", m.Calls())
	}
}

func TestMemoryDelayEndsWithTheContext(t *testing.T) {
	m := providertest.NewMemory()
	m.SetDelay(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Get(ctx, providers.Ref{Name: "a"})
		done <- err
	}()
	// The Get is waiting (it never finishes on its own); cancel releases it.
	cancel()
	select {
	case err := <-done:
		providertest.WantCode(t, err, providers.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a delayed Get did not end with its context")
	}
	m.SetDelay(0)
	_, err := m.Get(ctxT(t), providers.Ref{Name: "a"})
	providertest.WantCode(t, err, providers.NotFound)
}

func TestMemoryHook(t *testing.T) {
	m := providertest.NewMemory()
	m.Seed(providers.Ref{Location: "S", Name: "a"}, &providers.Secret{Attributes: map[string]string{"password": "x"}})
	var seen []string
	m.SetHook(func(ctx context.Context, op providertest.Op, ref providers.Ref) error {
		seen = append(seen, op.String()+" "+ref.String())
		if op == providertest.OpGet && ref.Fresh {
			return providers.Errorf(providers.ResourceExhausted, nil, "throttled")
		}
		return nil
	})
	ctx := ctxT(t)
	if _, err := m.Get(ctx, providers.Ref{Location: "S", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Get(ctx, providers.Ref{Location: "S", Name: "a", Fresh: true})
	providertest.WantCode(t, err, providers.ResourceExhausted)
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"Get S/a", "Get S/a", "Check "}
	if len(seen) != len(want) {
		t.Fatalf("hook saw %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("hook saw %q, want %q", seen, want)
		}
	}
	m.SetHook(nil)
	if _, err := m.Get(ctx, providers.Ref{Location: "S", Name: "a", Fresh: true}); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryOpenSharesSecrets(t *testing.T) {
	m := providertest.NewMemory()
	ctx := ctxT(t)
	ref := providers.Ref{Name: "a"}
	ro := m.Open(false)
	if !m.Writable() || ro.Writable() {
		t.Fatalf("Writable: %v and %v", m.Writable(), ro.Writable())
	}
	if err := m.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "x"}}); err != nil {
		t.Fatal(err)
	}
	got, err := ro.Get(ctx, ref)
	if err != nil || got.Attributes["password"] != "x" || got.Version != "1" {
		t.Fatalf("the read-only view reads %v, %v", got, err)
	}
	// A refused write leaves the secret alone and reaches no fault or hook.
	ro.SetFault(providers.Errorf(providers.Unavailable, nil, "down"))
	providertest.WantCode(t, ro.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "y"}}), providers.FailedPrecondition)
	providertest.WantCode(t, ro.Delete(ctx, ref), providers.FailedPrecondition)
	if s, _ := m.Stored(ref); s.Attributes["password"] != "x" {
		t.Fatal("a refused Put changed the secret")
	}
	// Each has its own counters and Close.
	if ro.Calls() != 3 || m.Calls() != 1 {
		t.Fatalf("calls %d and %d", ro.Calls(), m.Calls())
	}
	ro.Close()
	_, err = ro.Get(ctx, ref)
	providertest.WantCode(t, err, providers.FailedPrecondition)
	if _, err := m.Get(ctx, ref); err != nil {
		t.Fatalf("closing a view closed the other: %v", err)
	}
}

func TestMemorySecretStates(t *testing.T) {
	m := providertest.NewMemory()
	ctx := ctxT(t)
	ref := providers.Ref{Name: "a"}
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.Seed(ref, &providers.Secret{Attributes: map[string]string{"password": "old"}, Version: "7", UpdatedAt: when, Rotating: true, Stale: true})
	got, err := m.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Rotating || got.Stale || got.Version != "7" || !got.UpdatedAt.Equal(when) {
		t.Fatalf("seeded state lost: %+v rotating=%v stale=%v", got, got.Rotating, got.Stale)
	}
	got.Attributes["password"] = "changed by the caller"
	if again, _ := m.Get(ctx, ref); again.Attributes["password"] != "old" {
		t.Fatal("Get returns the stored map itself")
	}
	_, err = m.Get(ctx, providers.Ref{Name: "a", Version: "6"})
	providertest.WantCode(t, err, providers.NotFound)
	if err := m.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "new"}, Rotating: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = m.Get(ctx, ref)
	if got.Rotating || got.Version != "8" {
		t.Fatalf("after Put: version %q rotating %v", got.Version, got.Rotating)
	}
	_, err = m.Get(ctx, providers.Ref{})
	providertest.WantCode(t, err, providers.InvalidArgument)
	providertest.WantCode(t, m.Put(ctx, ref, nil), providers.InvalidArgument)
	providertest.WantCode(t, m.Put(ctx, providers.Ref{Name: "a", Version: "8"}, &providers.Secret{}), providers.InvalidArgument)
	providertest.WantCode(t, m.Delete(ctx, providers.Ref{Name: "a", Version: "8"}), providers.InvalidArgument)
	if err := m.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	providertest.WantCode(t, m.Delete(ctx, ref), providers.NotFound)
}
