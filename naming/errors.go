package naming

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error caused by bad input: a bad username or
// component, a name a provider cannot hold, a regular expression that does not
// compile, a bad auto-login format or a bad template. Callers classify with
// errors.Is(err, naming.ErrInvalid).
var ErrInvalid = errors.New("invalid name")

// ErrAmbiguous is wrapped, together with [ErrInvalid], by the error that
// [Scheme.Decode] returns when the scheme lets '-' pass raw and the encoded
// name contains a '-', so that more than one logical name may encode to it.
var ErrAmbiguous = errors.New("ambiguous encoding")

// ErrMissingField is wrapped by the error [Template.Execute] returns when the
// secret lacks a field the template needs (or holds it under several keys that
// differ only in case). It tells a bad secret apart from bad input, so it does
// not wrap [ErrInvalid].
var ErrMissingField = errors.New("missing field")

// maxEcho is the number of runes of a user-supplied value that error messages
// repeat; longer values are cut and marked with an ellipsis.
const maxEcho = 32

// echo quotes v for an error message, cut to its first n runes. Invalid UTF-8
// and control characters are escaped by the quoting, so the message stays on
// one line whatever v holds.
func echo(v string, n int) string {
	if utf8.RuneCountInString(v) <= n {
		return fmt.Sprintf("%q", v)
	}
	var b strings.Builder
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(v[i:])
		i += size
	}
	b.WriteString(fmt.Sprintf("%q", v[:i]))
	b.WriteString(fmt.Sprintf("… (%d characters in all)", utf8.RuneCountInString(v)))
	return b.String()
}

// Quote returns v quoted for a message or a log line, cut to its first 32
// characters with the full length noted, so that no message ever repeats
// more than a short prefix of what a caller typed.
func Quote(v string) string { return echo(v, maxEcho) }
