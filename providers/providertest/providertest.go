// Package providertest is the conformance suite that every secret provider
// runs, and Memory, an in-memory reference provider that passes it.
//
// A backend package calls Run from a short test with a Harness that knows
// how to start its backend (in-process or on loopback) and how to seed
// secrets by the backend's own means, so read-only providers are tested the
// same way as writable ones. The suite covers failures as well as
// successes: missing secrets, cancelled and expired contexts, denied and
// unreachable backends (for Get and Check), concurrent reads, awkward values
// and names, writes, and writes refused by a provider that is not Writable.
// Every error is judged by providers.CodeOf alone: a driver classifies its
// errors at its boundary.
//
// A middleware package runs the same suite around a real driver (or
// Memory) by naming itself in Options.Middlewares: every provider the suite
// gets from the harness is then wrapped in it, so the suite checks that the
// middleware keeps the contract (values, codes, Writable, Check).
package providertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// Harness starts a backend for the suite and builds providers against it.
type Harness interface {
	// Kind is the naming kind of the backend (naming.AWS, naming.Azure, ...);
	// the suite encodes its test names with that kind's default scheme.
	Kind() string
	// Location is the Ref.Location the suite uses: the Safe on CyberArk, ""
	// for prefix-based backends.
	Location() string
	// MakeProvider returns a new provider reading from the backend.
	MakeProvider(ctx context.Context) (providers.Provider, error)
	// Seed stores s under ref by the backend's own means, not through the
	// provider under test.
	Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error
	// Close stops the backend.
	Close()
}

// Fault is a failure a FaultHarness can make its backend show.
type Fault int

// The faults of the suite.
const (
	// Denied: the backend refuses the provider's identity (HTTP 403 or the
	// backend's equivalent). Expected code: PermissionDenied.
	Denied Fault = iota
	// Down: nothing listens where the provider connects. Expected code:
	// Unavailable.
	Down
	// Hung: the backend accepts the request and never answers. Expected code:
	// DeadlineExceeded (or Unavailable) once the caller's deadline passes.
	Hung
)

// String names the fault.
func (f Fault) String() string {
	return [...]string{"Denied", "Down", "Hung"}[f]
}

// ErrUnsupported is returned by a harness for a fault or feature its backend
// cannot show; the suite skips that case and says so.
var ErrUnsupported = errors.New("not supported by this harness")

// FaultHarness is implemented by harnesses that can make their backend fail.
type FaultHarness interface {
	// MakeFaultyProvider returns a provider whose backend shows fault on
	// every request, or ErrUnsupported.
	MakeFaultyProvider(ctx context.Context, fault Fault) (providers.Provider, error)
}

// ReadOnlyHarness is implemented by harnesses of writable backends that can
// also build a provider that is not Writable (writable: false in its
// configuration) on the same backend. The suite checks that its Put and
// Delete fail with FailedPrecondition and change nothing.
type ReadOnlyHarness interface {
	// MakeReadOnlyProvider returns a provider on the harness's backend
	// whose Writable is false, or ErrUnsupported.
	MakeReadOnlyProvider(ctx context.Context) (providers.Provider, error)
}

// Options tunes the suite to what a backend can hold, and says what to wrap
// around the providers under test.
type Options struct {
	// BinaryValues says attribute values may be arbitrary bytes, not only
	// valid UTF-8 (true for the embedded store and AWS SecretBinary; false
	// for backends whose values are JSON strings).
	BinaryValues bool
	// Middlewares, when not empty, wrap every provider the suite gets from
	// the harness (MakeProvider, MakeFaultyProvider, MakeReadOnlyProvider),
	// the first outermost, as providers.Chain does; each provider gets its
	// own call of every middleware. The suite then tests the stack: a
	// middleware must keep values, codes, Writable and Check as the driver
	// gives them. Seed still goes to the backend directly.
	Middlewares []providers.Middleware
}

// Run runs the conformance suite against h, wrapped in opts.Middlewares.
func Run(t *testing.T, h Harness, opts Options) {
	t.Helper()
	t.Cleanup(h.Close)
	s := &suite{h: h, opts: opts}
	scheme, err := naming.NewScheme(h.Kind(), naming.Options{})
	if err != nil {
		t.Fatalf("harness kind %q: %v", h.Kind(), err)
	}
	s.scheme = scheme
	t.Run("GetMissing", s.testGetMissing)
	t.Run("GetSeeded", s.testGetSeeded)
	t.Run("Values", s.testValues)
	t.Run("Names", s.testNames)
	t.Run("CanceledContext", s.testCanceled)
	t.Run("ExpiredDeadline", s.testExpired)
	t.Run("ConcurrentReads", s.testConcurrent)
	t.Run("ErrorsHideSecrets", s.testErrorsHideSecrets)
	t.Run("Check", s.testCheck)
	t.Run("Faults", s.testFaults)
	t.Run("Writer", s.testWriter)
	t.Run("ReadOnly", s.testReadOnly)
}

// WantCode fails t at once unless err is an error that providers.CodeOf
// classifies as one of want. Drivers' own tests use it too, so that every
// package judges errors the same way.
func WantCode(t testing.TB, err error, want ...providers.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %v", want)
	}
	got := providers.CodeOf(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Fatalf("error %q classified %v, want %v", err, got, want)
}

type suite struct {
	h      Harness
	opts   Options
	scheme *naming.Scheme
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) provider(t *testing.T) providers.Provider {
	t.Helper()
	p, err := s.h.MakeProvider(s.ctx(t))
	if err != nil {
		t.Fatalf("MakeProvider: %v", err)
	}
	return s.wrap(t, p)
}

// wrap wraps p in the suite's middlewares and closes it at the end of t.
func (s *suite) wrap(t *testing.T, p providers.Provider) providers.Provider {
	t.Helper()
	p = providers.Chain(p, s.opts.Middlewares...)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// ref encodes logical with the kind's default scheme.
func (s *suite) ref(t *testing.T, logical string) providers.Ref {
	t.Helper()
	name, err := s.scheme.Name(logical)
	if err != nil {
		t.Fatalf("encoding %q: %v", logical, err)
	}
	return providers.Ref{Location: s.h.Location(), Name: name, Reason: "providertest"}
}

func (s *suite) seed(t *testing.T, ref providers.Ref, attrs map[string]string) {
	t.Helper()
	if err := s.h.Seed(s.ctx(t), ref, &providers.Secret{Attributes: attrs}); err != nil {
		t.Fatalf("Seed %s: %v", ref, err)
	}
}

// checkAttrs reports every seeded attribute that did not come back intact.
// Backends may add attributes of their own (CyberArk adds Address, Folder...).
func checkAttrs(t *testing.T, got *providers.Secret, want map[string]string) {
	t.Helper()
	if got == nil {
		t.Fatal("Get returned a nil secret and no error")
	}
	for k, v := range want {
		g, ok := got.Attributes[k]
		if !ok {
			t.Errorf("attribute %q missing; got keys %v", k, got)
			continue
		}
		if g != v {
			t.Errorf("attribute %q: got %d bytes %q..., want %d bytes %q...", k, len(g), clip(g), len(v), clip(v))
		}
	}
}

func clip(s string) string {
	if len(s) > 24 {
		return s[:24]
	}
	return s
}

func (s *suite) testGetMissing(t *testing.T) {
	p := s.provider(t)
	_, err := p.Get(s.ctx(t), s.ref(t, "providertest_missing_credential"))
	WantCode(t, err, providers.NotFound)
}

func (s *suite) testGetSeeded(t *testing.T) {
	p := s.provider(t)
	ref := s.ref(t, "providertest_seeded")
	want := map[string]string{"username": "svc-bot", "password": "p4ss-W0rd!", "domain": "ACME"}
	s.seed(t, ref, want)
	got, err := p.Get(s.ctx(t), ref)
	if err != nil {
		t.Fatalf("Get %s: %v", ref, err)
	}
	checkAttrs(t, got, want)
	// The returned secret is the caller's: changing it changes nothing stored.
	got.Attributes["password"] = "changed"
	again, err := p.Get(s.ctx(t), ref)
	if err != nil {
		t.Fatalf("second Get %s: %v", ref, err)
	}
	checkAttrs(t, again, want)
}

func (s *suite) testValues(t *testing.T) {
	values := map[string]string{
		"empty":     "",
		"spaces":    "  leading and trailing  ",
		"newlines":  "line1\nline2\r\nline3",
		"quotes":    `"double" 'single' \backslash\ {"json":true}`,
		"nul":       "before\x00after",
		"unicode":   "pässwörd-密码-🔑",
		"long":      strings.Repeat("0123456789abcdef", 4096),
		"dollar":    "$domain$\\$username$",
		"html-like": "<script>&amp;</script>",
	}
	if s.opts.BinaryValues {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		values["binary"] = string(b)
	}
	p := s.provider(t)
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			ref := s.ref(t, "providertest_value_"+name)
			want := map[string]string{"username": "u", "password": v}
			s.seed(t, ref, want)
			got, err := p.Get(s.ctx(t), ref)
			if err != nil {
				t.Fatalf("Get %s: %v", ref, err)
			}
			checkAttrs(t, got, want)
		})
	}
}

func (s *suite) testNames(t *testing.T) {
	logical := []string{
		`finance_glaccess_ABCD\RPA.user123`,
		"hr_portal_ACME\\josé",
		"ops_vpn_user123@rpa.abcd.com",
		"emoji_cred_👍",
		"case_Cred_MiXeD",
		"dots_..",
		"a",
	}
	p := s.provider(t)
	for i, l := range logical {
		ref := s.ref(t, l)
		want := map[string]string{"password": fmt.Sprintf("value-%d", i)}
		s.seed(t, ref, want)
		got, err := p.Get(s.ctx(t), ref)
		if err != nil {
			t.Errorf("Get %q (logical %q): %v", ref.Name, l, err)
			continue
		}
		checkAttrs(t, got, want)
	}
}

func (s *suite) testCanceled(t *testing.T) {
	p := s.provider(t)
	ref := s.ref(t, "providertest_canceled")
	s.seed(t, ref, map[string]string{"password": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Get(ctx, ref)
	WantCode(t, err, providers.Canceled)
}

func (s *suite) testExpired(t *testing.T) {
	p := s.provider(t)
	ref := s.ref(t, "providertest_expired")
	s.seed(t, ref, map[string]string{"password": "x"})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := p.Get(ctx, ref)
	WantCode(t, err, providers.DeadlineExceeded)
}

func (s *suite) testConcurrent(t *testing.T) {
	p := s.provider(t)
	const secrets, readers, reads = 4, 8, 10
	refs := make([]providers.Ref, secrets)
	for i := range refs {
		refs[i] = s.ref(t, fmt.Sprintf("providertest_concurrent_%d", i))
		s.seed(t, refs[i], map[string]string{"password": fmt.Sprintf("secret-%d", i)})
	}
	ctx := s.ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, readers*reads)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; i < reads; i++ {
				n := (r + i) % secrets
				got, err := p.Get(ctx, refs[n])
				if err != nil {
					errs <- fmt.Errorf("Get %s: %w", refs[n], err)
					continue
				}
				if want := fmt.Sprintf("secret-%d", n); got.Attributes["password"] != want {
					errs <- fmt.Errorf("Get %s: wrong password (%d bytes)", refs[n], len(got.Attributes["password"]))
				}
			}
		}(r)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testErrorsHideSecrets checks that the errors a provider returns around a
// stored secret never carry its value.
func (s *suite) testErrorsHideSecrets(t *testing.T) {
	const value = "Tr0ub4dor&3-must-not-leak"
	p := s.provider(t)
	ref := s.ref(t, "providertest_leak")
	s.seed(t, ref, map[string]string{"username": "leak", "password": value})
	var errs []error
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Get(ctx, ref)
	errs = append(errs, err)
	missing := ref
	missing.Name += "0"
	_, err = p.Get(s.ctx(t), missing)
	errs = append(errs, err)
	got, err := p.Get(s.ctx(t), ref)
	if err != nil {
		t.Fatalf("Get %s: %v", ref, err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, got); strings.Contains(out, value) {
			t.Errorf("fmt %s of a secret prints its value: %s", f, out)
		}
	}
	for _, e := range errs {
		if e != nil && strings.Contains(fmt.Sprintf("%+v", e), value) {
			t.Errorf("error carries the secret value: %v", e)
		}
	}
}

func (s *suite) testCheck(t *testing.T) {
	p := s.provider(t)
	if err := p.Check(s.ctx(t)); err != nil {
		t.Fatalf("Check of a healthy provider: %v (code %v)", err, providers.CodeOf(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	WantCode(t, p.Check(ctx), providers.Canceled)
	// Check answers again after a failed one.
	if err := p.Check(s.ctx(t)); err != nil {
		t.Fatalf("Check after a cancelled Check: %v", err)
	}
}

func (s *suite) testFaults(t *testing.T) {
	fh, ok := s.h.(FaultHarness)
	if !ok {
		t.Skip("harness does not implement FaultHarness")
	}
	cases := []struct {
		fault Fault
		want  []providers.Code
	}{
		{Denied, []providers.Code{providers.PermissionDenied}},
		{Down, []providers.Code{providers.Unavailable}},
		{Hung, []providers.Code{providers.DeadlineExceeded, providers.Unavailable}},
	}
	for _, c := range cases {
		t.Run(c.fault.String(), func(t *testing.T) {
			p, err := fh.MakeFaultyProvider(s.ctx(t), c.fault)
			if errors.Is(err, ErrUnsupported) {
				t.Skipf("fault %v: %v", c.fault, err)
			}
			if err != nil {
				t.Fatalf("MakeFaultyProvider(%v): %v", c.fault, err)
			}
			p = s.wrap(t, p)
			t.Run("Get", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := p.Get(ctx, s.ref(t, "providertest_fault"))
				WantCode(t, err, c.want...)
			})
			t.Run("Check", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				WantCode(t, p.Check(ctx), c.want...)
			})
		})
	}
}

// testWriter checks Put and Delete on a Writable provider, and their
// refusal on one that is not.
func (s *suite) testWriter(t *testing.T) {
	p := s.provider(t)
	writable := p.Writable()
	for i := 0; i < 3; i++ {
		if p.Writable() != writable {
			t.Fatal("Writable changes its answer")
		}
	}
	if !writable {
		s.refusesWrites(t, p, p)
		return
	}
	ctx := s.ctx(t)
	ref := s.ref(t, "providertest_writer")
	first := map[string]string{"username": "w1", "password": "one"}
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: first}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := p.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get after Put: %v", err)
	}
	checkAttrs(t, got, first)

	second := map[string]string{"username": "w2", "password": "two"}
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: second}); err != nil {
		t.Fatalf("overwriting Put: %v", err)
	}
	got, err = p.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get after overwrite: %v", err)
	}
	checkAttrs(t, got, second)

	// A second provider instance sees what the first wrote.
	p2 := s.provider(t)
	if !p2.Writable() {
		t.Fatal("a second provider from the same harness is not Writable")
	}
	got, err = p2.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get from a second provider: %v", err)
	}
	checkAttrs(t, got, second)

	if err := p.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = p.Get(ctx, ref)
	WantCode(t, err, providers.NotFound)
	err = p.Delete(ctx, ref)
	WantCode(t, err, providers.NotFound)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Put(canceled, ref, &providers.Secret{Attributes: first})
	WantCode(t, err, providers.Canceled)
	err = p.Delete(canceled, ref)
	WantCode(t, err, providers.Canceled)
}

// testReadOnly checks the provider a ReadOnlyHarness makes on a writable
// backend.
func (s *suite) testReadOnly(t *testing.T) {
	rh, ok := s.h.(ReadOnlyHarness)
	if !ok {
		t.Skip("harness does not implement ReadOnlyHarness")
	}
	ro, err := rh.MakeReadOnlyProvider(s.ctx(t))
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("read-only provider: %v", err)
	}
	if err != nil {
		t.Fatalf("MakeReadOnlyProvider: %v", err)
	}
	ro = s.wrap(t, ro)
	if ro.Writable() {
		t.Fatal("MakeReadOnlyProvider returned a Writable provider")
	}
	if err := ro.Check(s.ctx(t)); err != nil {
		t.Fatalf("Check of a read-only provider: %v", err)
	}
	s.refusesWrites(t, ro, s.provider(t))
}

// refusesWrites checks that Put and Delete on ro, which is not Writable,
// fail with FailedPrecondition and leave the stored secret as it was, as
// ro itself and reader (another provider on the backend) read it.
func (s *suite) refusesWrites(t *testing.T, ro, reader providers.Provider) {
	t.Helper()
	ctx := s.ctx(t)
	ref := s.ref(t, "providertest_readonly")
	want := map[string]string{"username": "ro", "password": "unchanged"}
	s.seed(t, ref, want)
	WantCode(t, ro.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"username": "ro", "password": "changed"}}),
		providers.FailedPrecondition)
	WantCode(t, ro.Delete(ctx, ref), providers.FailedPrecondition)
	// A name that does not exist: still FailedPrecondition, not NotFound,
	// and still nothing written.
	missing := s.ref(t, "providertest_readonly_missing")
	WantCode(t, ro.Put(ctx, missing, &providers.Secret{Attributes: want}), providers.FailedPrecondition)
	WantCode(t, ro.Delete(ctx, missing), providers.FailedPrecondition)
	for _, p := range []providers.Provider{ro, reader} {
		got, err := p.Get(ctx, ref)
		if err != nil {
			t.Fatalf("Get after refused writes: %v", err)
		}
		checkAttrs(t, got, want)
		_, err = p.Get(ctx, missing)
		WantCode(t, err, providers.NotFound)
	}
}
