package providertest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// MemoryKind is the provider kind Memory names in its NotWritable error.
const MemoryKind = "memory"

// Op names an operation of the Provider interface, for Memory's counters
// and hooks.
type Op int

// The operations Memory counts.
const (
	OpGet Op = iota
	OpPut
	OpDelete
	OpCheck
	numOps
)

// String returns the method's name: "Get", "Put", "Delete", "Check".
func (o Op) String() string {
	switch o {
	case OpGet:
		return "Get"
	case OpPut:
		return "Put"
	case OpDelete:
		return "Delete"
	case OpCheck:
		return "Check"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Hook is called by Memory at every call, after the delay and the fault
// (see SetHook). ref is the zero Ref for Check. A non-nil error is returned
// to the caller as it is.
type Hook func(ctx context.Context, op Op, ref providers.Ref) error

// memStore holds the secrets that Memory values opened from one NewMemory
// share, as clients of one vault share its contents.
type memStore struct {
	mu      sync.Mutex
	secrets map[memKey]*providers.Secret
}

type memKey struct{ location, name string }

// Memory is the reference provider: a map behind the providers.Provider
// contract, with switches to make it fail or wait and counters of its
// calls, for the tests of middlewares (cache, circuit breaker, limits) and
// of the broker. It passes the conformance suite (see MemoryHarness). It
// is safe for concurrent use.
//
// Each call of Get, Put, Delete or Check is counted, then goes through, in
// order: the closed check (FailedPrecondition after Close), the caller's
// context (its error as it is), for Put and Delete the Writable check
// (providers.NotWritable, with the backend untouched), the delay of
// SetDelay (ended early by the context, with its error), the fault of
// SetFault, the Hook of SetHook, and then the map.
//
// Names are kept exactly as given (Location and Name); an empty Name is
// InvalidArgument. Each Put makes a new version "1", "2", ... of the name
// and only the current version is kept: a Ref.Version naming another one is
// NotFound. Delete forgets a name, version count included.
type Memory struct {
	store    *memStore
	writable bool
	closed   atomic.Bool
	calls    [numOps]atomic.Int64
	now      func() time.Time

	mu    sync.Mutex
	fault error
	delay time.Duration
	hook  Hook
}

var _ providers.Provider = (*Memory)(nil)

// NewMemory returns an empty, Writable Memory.
func NewMemory() *Memory {
	return &Memory{store: &memStore{secrets: map[memKey]*providers.Secret{}}, writable: true, now: time.Now}
}

// Open returns another provider over the same secrets, as a second client
// of the same vault: what one writes the other reads. It has its own
// writability, counters, fault, delay, hook and Close. Open(false) is the
// way to a Memory that is not Writable.
func (m *Memory) Open(writable bool) *Memory {
	return &Memory{store: m.store, writable: writable, now: m.now}
}

// SetFault makes every later call return err (after the delay); nil ends
// the fault. Pass a classified error, such as
// providers.Errorf(providers.Unavailable, nil, "vault is down"), unless the
// test is about what a middleware does with an unclassified one.
func (m *Memory) SetFault(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fault = err
}

// SetDelay makes every later call wait d before it answers, or until its
// context ends (it then returns the context's error); 0 ends the delay. A
// long delay stands for a hung vault.
func (m *Memory) SetDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// SetHook makes every later call run h (after the delay and the fault),
// for faults that depend on the call: fail the third Get, block until the
// test releases a channel, count Fresh reads... nil removes the hook.
func (m *Memory) SetHook(h Hook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = h
}

// Calls returns how many calls of Get, Put, Delete and Check this Memory
// received, failed ones included.
func (m *Memory) Calls() int64 {
	var n int64
	for i := range m.calls {
		n += m.calls[i].Load()
	}
	return n
}

// CallsOf returns how many calls of op this Memory received.
func (m *Memory) CallsOf(op Op) int64 {
	if op < 0 || op >= numOps {
		return 0
	}
	return m.calls[op].Load()
}

// Seed stores a copy of s at ref by the backend's own means: no call is
// counted and no fault, delay, hook or writability applies. s.Version is
// kept when set (else the name's next version is used), s.UpdatedAt when
// set (else now), and s.Rotating as it is, so that a test can seed a
// secret in the middle of a rotation.
func (m *Memory) Seed(ref providers.Ref, s *providers.Secret) {
	c := s.Clone()
	if c == nil {
		c = &providers.Secret{}
	}
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	c.Stale = false
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = m.now()
	}
	st := m.store
	st.mu.Lock()
	defer st.mu.Unlock()
	k := memKey{ref.Location, ref.Name}
	if c.Version == "" {
		c.Version = nextVersion(st.secrets[k])
	}
	st.secrets[k] = c
}

// Stored returns a copy of the secret at ref as the backend holds it,
// without a call being counted; ok is false when there is none. It lets a
// test check that a refused or cached write did not reach the backend.
func (m *Memory) Stored(ref providers.Ref) (s *providers.Secret, ok bool) {
	st := m.store
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := st.secrets[memKey{ref.Location, ref.Name}]
	return cur.Clone(), cur != nil
}

// nextVersion returns the version after cur's ("1" when cur is nil or its
// version is not a number).
func nextVersion(cur *providers.Secret) string {
	if cur == nil {
		return "1"
	}
	n, err := strconv.ParseUint(cur.Version, 10, 64)
	if err != nil {
		return "1"
	}
	return strconv.FormatUint(n+1, 10)
}

// enter runs the steps every call shares; see the type's comment.
func (m *Memory) enter(ctx context.Context, op Op, ref providers.Ref) error {
	m.calls[op].Add(1)
	if m.closed.Load() {
		return providers.Errorf(providers.FailedPrecondition, nil, "the memory provider is closed")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if (op == OpPut || op == OpDelete) && !m.writable {
		return providers.NotWritable(MemoryKind)
	}
	m.mu.Lock()
	fault, delay, hook := m.fault, m.delay, m.hook
	m.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if fault != nil {
		return fault
	}
	if hook != nil {
		if err := hook(ctx, op, ref); err != nil {
			return err
		}
	}
	if op != OpCheck && ref.Name == "" {
		return providers.Errorf(providers.InvalidArgument, nil, "the secret name is empty")
	}
	return nil
}

// errNotFound is the inner error of Memory's NotFound answers.
var errNotFound = errors.New("providertest: no such secret in memory")

// Get returns a copy of the secret at ref.
func (m *Memory) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	if err := m.enter(ctx, OpGet, ref); err != nil {
		return nil, err
	}
	st := m.store
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := st.secrets[memKey{ref.Location, ref.Name}]
	switch {
	case cur == nil:
		return nil, providers.Errorf(providers.NotFound, errNotFound, "no secret with that name")
	case ref.Version != "" && ref.Version != cur.Version:
		return nil, providers.Errorf(providers.NotFound, errNotFound, "that version is not kept; the current one is %s", cur.Version)
	}
	return cur.Clone(), nil
}

// Put stores a copy of s's attributes at ref as the name's next version,
// stamped now. ref.Version must be empty.
func (m *Memory) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	if err := m.enter(ctx, OpPut, ref); err != nil {
		return err
	}
	switch {
	case s == nil:
		return providers.Errorf(providers.InvalidArgument, nil, "no secret to store")
	case ref.Version != "":
		return providers.Errorf(providers.InvalidArgument, nil, "a write cannot name a version")
	}
	c := &providers.Secret{Attributes: s.Clone().Attributes, UpdatedAt: m.now()}
	st := m.store
	st.mu.Lock()
	defer st.mu.Unlock()
	k := memKey{ref.Location, ref.Name}
	c.Version = nextVersion(st.secrets[k])
	st.secrets[k] = c
	return nil
}

// Delete removes the secret at ref; a missing one is NotFound. ref.Version
// must be empty.
func (m *Memory) Delete(ctx context.Context, ref providers.Ref) error {
	if err := m.enter(ctx, OpDelete, ref); err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "delete works on the whole secret; leave the version empty")
	}
	st := m.store
	st.mu.Lock()
	defer st.mu.Unlock()
	k := memKey{ref.Location, ref.Name}
	if st.secrets[k] == nil {
		return providers.Errorf(providers.NotFound, errNotFound, "no secret with that name")
	}
	delete(st.secrets, k)
	return nil
}

// Writable reports whether Put and Delete are allowed: true for NewMemory,
// as given to Open otherwise.
func (m *Memory) Writable() bool { return m.writable }

// Check reports the fault of SetFault (and what the hook returns), nil
// otherwise. It reads no secret.
func (m *Memory) Check(ctx context.Context) error {
	return m.enter(ctx, OpCheck, providers.Ref{})
}

// Close makes later calls fail with FailedPrecondition. The secrets stay
// for the other Memory values opened on them. It always returns nil.
func (m *Memory) Close() error {
	m.closed.Store(true)
	return nil
}

// MemoryHarness runs the conformance suite against Memory. Middleware
// packages use it to run the suite around their middleware without a real
// vault:
//
//	providertest.Run(t, providertest.NewMemoryHarness(), providertest.Options{
//		BinaryValues: true,
//		Middlewares:  []providers.Middleware{cache.Middleware(cfg)},
//	})
//
// It implements Harness, FaultHarness and ReadOnlyHarness.
type MemoryHarness struct {
	// Memory is the backend: the harness's providers are opened on it and
	// Seed writes to it.
	Memory *Memory
}

var (
	_ Harness         = (*MemoryHarness)(nil)
	_ FaultHarness    = (*MemoryHarness)(nil)
	_ ReadOnlyHarness = (*MemoryHarness)(nil)
)

// NewMemoryHarness returns a harness over a new Memory.
func NewMemoryHarness() *MemoryHarness { return &MemoryHarness{Memory: NewMemory()} }

// Kind returns naming.Embedded: Memory, like the embedded store, takes any
// name.
func (h *MemoryHarness) Kind() string { return naming.Embedded }

// Location returns "Safe1", so that the suite also checks that Location is
// passed down.
func (h *MemoryHarness) Location() string { return "Safe1" }

// MakeProvider returns a new Writable Memory on the harness's secrets.
func (h *MemoryHarness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return h.Memory.Open(true), nil
}

// MakeReadOnlyProvider returns a new Memory on the harness's secrets that
// is not Writable.
func (h *MemoryHarness) MakeReadOnlyProvider(ctx context.Context) (providers.Provider, error) {
	return h.Memory.Open(false), nil
}

// MakeFaultyProvider returns a Memory on the harness's secrets that fails
// every call: PermissionDenied for Denied, Unavailable for Down, and for
// Hung a delay of an hour that only the caller's context ends.
func (h *MemoryHarness) MakeFaultyProvider(ctx context.Context, fault Fault) (providers.Provider, error) {
	m := h.Memory.Open(true)
	switch fault {
	case Denied:
		m.SetFault(providers.Errorf(providers.PermissionDenied, nil, "the memory vault refuses this identity"))
	case Down:
		m.SetFault(providers.Errorf(providers.Unavailable, nil, "the memory vault is down"))
	case Hung:
		m.SetDelay(time.Hour)
	default:
		return nil, ErrUnsupported
	}
	return m, nil
}

// Seed stores s at ref in the harness's Memory.
func (h *MemoryHarness) Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	h.Memory.Seed(ref, s)
	return nil
}

// Close does nothing: Memory holds no resources.
func (h *MemoryHarness) Close() {}
