package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/secretbroker/secretbroker/configs"
)

// FuzzParse: the loader never panics, and every error it reports names the
// file, on one line per error.
func FuzzParse(f *testing.F) {
	f.Add(configs.Default)
	f.Add([]byte(base))
	f.Add([]byte("lockers: {a: {places: [{provider: x}]}}\nproviders: {x: {aws: {}}}\n"))
	f.Add([]byte("server: {listen: 0.0.0.0:1}\npolicy: {clients: [{name: a, identities: ['*'], operations: [x]}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		_, err := Parse("fuzz.yaml", data)
		if err == nil {
			return
		}
		var errs Errors
		if !errors.As(err, &errs) {
			var e *Error
			if !errors.As(err, &e) {
				return // reading errors of other kinds carry their own text
			}
			errs = Errors{e}
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "fuzz.yaml") || strings.Contains(e.Msg, "\n") {
				t.Fatalf("error %q does not name the file on one line", e.Error())
			}
		}
	})
}
