// Package providertest is the conformance suite that every secret provider
// runs. A backend package calls Run from a short test with a Harness that
// knows how to start its backend (in-process or on loopback) and how to seed
// secrets by the backend's own means, so read-only providers are tested the
// same way as writable ones. The suite covers failures as well as successes:
// missing secrets, cancelled and expired contexts, denied and unreachable
// backends, concurrent reads, awkward values and names.
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

// Options tunes the suite to what a backend can hold.
type Options struct {
	// BinaryValues says attribute values may be arbitrary bytes, not only
	// valid UTF-8 (true for the embedded store and AWS SecretBinary; false
	// for backends whose values are JSON strings).
	BinaryValues bool
}

// Run runs the conformance suite against h.
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
	t.Run("Faults", s.testFaults)
	t.Run("Writer", s.testWriter)
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

func wantCode(t *testing.T, p providers.Provider, err error, want ...providers.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %v", want)
	}
	got := providers.CodeOf(p, err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Fatalf("error %q classified %v, want %v", err, got, want)
}

func (s *suite) testGetMissing(t *testing.T) {
	p := s.provider(t)
	_, err := p.Get(s.ctx(t), s.ref(t, "providertest_missing_credential"))
	wantCode(t, p, err, providers.NotFound)
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
	wantCode(t, p, err, providers.Canceled)
}

func (s *suite) testExpired(t *testing.T) {
	p := s.provider(t)
	ref := s.ref(t, "providertest_expired")
	s.seed(t, ref, map[string]string{"password": "x"})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := p.Get(ctx, ref)
	wantCode(t, p, err, providers.DeadlineExceeded)
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
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = p.Get(ctx, s.ref(t, "providertest_fault"))
			wantCode(t, p, err, c.want...)
		})
	}
}

func (s *suite) testWriter(t *testing.T) {
	p := s.provider(t)
	w, ok := p.(providers.Writer)
	if !ok {
		t.Skip("provider is read-only")
	}
	ctx := s.ctx(t)
	ref := s.ref(t, "providertest_writer")
	first := map[string]string{"username": "w1", "password": "one"}
	if err := w.Put(ctx, ref, &providers.Secret{Attributes: first}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := p.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get after Put: %v", err)
	}
	checkAttrs(t, got, first)

	second := map[string]string{"username": "w2", "password": "two"}
	if err := w.Put(ctx, ref, &providers.Secret{Attributes: second}); err != nil {
		t.Fatalf("overwriting Put: %v", err)
	}
	got, err = p.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get after overwrite: %v", err)
	}
	checkAttrs(t, got, second)

	// A second provider instance sees what the first wrote.
	p2 := s.provider(t)
	got, err = p2.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get from a second provider: %v", err)
	}
	checkAttrs(t, got, second)

	if err := w.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = p.Get(ctx, ref)
	wantCode(t, p, err, providers.NotFound)
	err = w.Delete(ctx, ref)
	wantCode(t, p, err, providers.NotFound)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	err = w.Put(canceled, ref, &providers.Secret{Attributes: first})
	wantCode(t, p, err, providers.Canceled)
}
