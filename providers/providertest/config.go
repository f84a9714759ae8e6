package providertest

import (
	"errors"
	"slices"
	"testing"

	"github.com/secretbroker/secretbroker/providers"
)

// ConfigFields returns the Field of every *providers.ConfigError in err, in
// order, looking through errors.Join trees (nested ones too), so that a
// test can check that a Validate or New reported every problem at once. It
// returns nil for a nil err and fails t on any error in the tree that is
// not a *providers.ConfigError.
func ConfigFields(t testing.TB, err error) []string {
	t.Helper()
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *providers.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("got %v (%T), want a *providers.ConfigError", err, err)
		}
		out = append(out, ce.Field)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// WantConfigFields fails t unless err holds exactly the
// *providers.ConfigError fields want, in that order (see ConfigFields); no
// fields wants a nil err.
func WantConfigFields(t testing.TB, err error, want ...string) {
	t.Helper()
	if got := ConfigFields(t, err); !slices.Equal(got, want) {
		t.Fatalf("config error fields %q\nwant                %q\nerror: %v", got, want, err)
	}
}
