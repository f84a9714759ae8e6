package providertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/secretbroker/secretbroker/providers"
)

func configErr(field string) error {
	return &providers.ConfigError{Field: field, Problem: "is wrong", Fix: "fix it"}
}

func TestConfigFields(t *testing.T) {
	if got := ConfigFields(t, nil); got != nil {
		t.Fatalf("ConfigFields(nil) = %v, want nil", got)
	}
	if got := ConfigFields(t, configErr("url")); !slices.Equal(got, []string{"url"}) {
		t.Fatalf("one error: %v", got)
	}
	nested := errors.Join(
		configErr("url"),
		errors.Join(configErr("tls.ca_file"), fmt.Errorf("auth: %w", configErr("auth.role"))),
		configErr("timeout"),
	)
	want := []string{"url", "tls.ca_file", "auth.role", "timeout"}
	if got := ConfigFields(t, nested); !slices.Equal(got, want) {
		t.Fatalf("nested joins: %v, want %v", got, want)
	}

	other := errors.Join(configErr("url"), errors.New("dial: refused"))
	failed := failureOf(t, func(tb testing.TB) { ConfigFields(tb, other) })
	if !strings.Contains(failed, "want a *providers.ConfigError") {
		t.Fatalf("a plain error in the tree: failure %q, want one naming *providers.ConfigError", failed)
	}
}

func TestWantConfigFields(t *testing.T) {
	err := errors.Join(configErr("url"), configErr("timeout"))
	if failed := failureOf(t, func(tb testing.TB) { WantConfigFields(tb, err, "url", "timeout") }); failed != "" {
		t.Fatalf("matching fields failed: %s", failed)
	}
	if failed := failureOf(t, func(tb testing.TB) { WantConfigFields(tb, nil) }); failed != "" {
		t.Fatalf("nil error, no fields failed: %s", failed)
	}
	for _, want := range [][]string{{"timeout", "url"}, {"url"}, {"url", "timeout", "region"}, nil} {
		failed := failureOf(t, func(tb testing.TB) { WantConfigFields(tb, err, want...) })
		if !strings.Contains(failed, "config error fields") {
			t.Fatalf("want %q: failure %q, want a mismatch", want, failed)
		}
	}
}
