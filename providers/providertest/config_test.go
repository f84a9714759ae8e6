package providertest_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, as testing's does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in a goroutine of its own and returns what
// it failed with, "" when it did not.
func run(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

func configErr(field string) error {
	return &providers.ConfigError{Field: field, Problem: "is wrong", Fix: "fix it"}
}

func TestConfigFields(t *testing.T) {
	if got := providertest.ConfigFields(t, nil); got != nil {
		t.Fatalf("ConfigFields(nil) = %v, want nil", got)
	}
	if got := providertest.ConfigFields(t, configErr("url")); !slices.Equal(got, []string{"url"}) {
		t.Fatalf("one error: %v", got)
	}
	nested := errors.Join(
		configErr("url"),
		errors.Join(configErr("tls.ca_file"), fmt.Errorf("auth: %w", configErr("auth.role"))),
		configErr("timeout"),
	)
	want := []string{"url", "tls.ca_file", "auth.role", "timeout"}
	if got := providertest.ConfigFields(t, nested); !slices.Equal(got, want) {
		t.Fatalf("nested joins: %v, want %v", got, want)
	}

	other := errors.Join(configErr("url"), errors.New("dial: refused"))
	failed := run(t, func(tb testing.TB) { providertest.ConfigFields(tb, other) })
	if !strings.Contains(failed, "want a *providers.ConfigError") {
		t.Fatalf("a plain error in the tree: failure %q, want one naming *providers.ConfigError", failed)
	}
}

func TestWantConfigFields(t *testing.T) {
	err := errors.Join(configErr("url"), configErr("timeout"))
	if failed := run(t, func(tb testing.TB) { providertest.WantConfigFields(tb, err, "url", "timeout") }); failed != "" {
		t.Fatalf("matching fields failed: %s", failed)
	}
	if failed := run(t, func(tb testing.TB) { providertest.WantConfigFields(tb, nil) }); failed != "" {
		t.Fatalf("nil error, no fields failed: %s", failed)
	}
	for _, want := range [][]string{{"timeout", "url"}, {"url"}, {"url", "timeout", "region"}, nil} {
		failed := run(t, func(tb testing.TB) { providertest.WantConfigFields(tb, err, want...) })
		if !strings.Contains(failed, "config error fields") {
			t.Fatalf("want %q: failure %q, want a mismatch", want, failed)
		}
	}
}
