package naming

import (
	"unicode/utf8"
)

// MaxUsername is the maximum length of a Control Room username, and of a
// component checked by [ValidateComponent], in characters (runes).
const MaxUsername = 256

// ValidateUsername checks a Control Room username: valid UTF-8, 1 to 256
// characters (runes), and no control characters (those of unicode.IsControl,
// plus the line and paragraph separators U+2028 and U+2029). Format
// characters such as zero-width joiners are accepted. The error wraps
// [ErrInvalid], says what is wrong and repeats at most the first 32
// characters of the username.
func ValidateUsername(u string) error {
	return validateText("username", u, MaxUsername)
}

// ValidateComponent checks a locker prefix, credential name or similar
// component of a name, under the same rules as [ValidateUsername]: non-empty,
// valid UTF-8, at most 256 characters, no control characters. what names the
// component in the error, such as "credential" or "prefix". The error wraps
// [ErrInvalid].
func ValidateComponent(what, v string) error {
	return validateText(what, v, MaxUsername)
}

// validateText checks v, named what in errors: valid UTF-8, 1 to max runes,
// no control characters.
func validateText(what, v string, max int) error {
	if rule := utf8Rule(v); rule != "" {
		return invalidf("%s %s: %s", what, echo(v, maxEcho), rule)
	}
	if v == "" {
		return invalidf("%s is empty: it must have 1 to %d characters", what, max)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalidf("%s %s has %d characters; at most %d are allowed", what, echo(v, maxEcho), n, max)
	}
	if i, r := firstNotIn(v, func(r rune) bool { return !isControl(r) }); i >= 0 {
		return invalidf("%s %s contains the control character %U at offset %d; control characters are not allowed", what, echo(v, maxEcho), r, i)
	}
	return nil
}
