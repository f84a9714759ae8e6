package naming

import (
	"maps"
	"slices"
	"strings"
)

// SystemName returns the logical name of a system credential:
// "{prefix}_{credential}", or "{credential}" when prefix is "" (CyberArk,
// where the locker is a Safe). It does not validate; see [ValidateComponent].
func SystemName(prefix, credential string) string {
	if prefix == "" {
		return credential
	}
	return prefix + "_" + credential
}

// UserName returns the logical name of a user-defined credential:
// "{prefix}_{credential}_{username}", or "{credential}_{username}" when
// prefix is "" (CyberArk). It does not validate; see [ValidateUsername].
func UserName(prefix, credential, username string) string {
	return SystemName(prefix, credential) + "_" + username
}

// DefaultAutoLoginFormat is the default format of auto-login secret names.
const DefaultAutoLoginFormat = "autologin_{username}"

// usernamePlaceholder is the placeholder of an auto-login format.
const usernamePlaceholder = "{username}"

// maxMapped is the maximum length, in characters, of a mapped auto-login name
// accepted by NewAutoLogin (the largest provider limit; Check applies the
// provider's own).
const maxMapped = MaxEmbedded

// AutoLogin computes the names of auto-login secrets from a format and an
// optional mapping of single usernames to explicit secret names.
//
// The format is any text containing {username} exactly once, such as
// "autologin_{username}", "{username}-login" or "rpa/{username}"; no other
// '{' or '}' may appear in it. The whole logical name (format with the
// username in place) is encoded by the scheme. A mapped name is used
// verbatim, not encoded, but still checked by the scheme. Mapping keys match
// usernames exactly (case included).
//
// An AutoLogin is immutable and safe for concurrent use; the zero value (and a
// nil *AutoLogin) uses [DefaultAutoLoginFormat] and no mapping.
type AutoLogin struct {
	format        string
	before, after string // format around {username}
	mapping       map[string]string
}

// NewAutoLogin returns an AutoLogin for format ("" selects
// [DefaultAutoLoginFormat]) and mapping (may be nil; it is copied). The
// format must be valid UTF-8 without control characters, at most 256
// characters, containing {username} exactly once and no other brace. Mapping
// keys must be valid usernames ([ValidateUsername]) and values non-empty
// names without control characters. Errors wrap [ErrInvalid].
func NewAutoLogin(format string, mapping map[string]string) (*AutoLogin, error) {
	if format == "" {
		format = DefaultAutoLoginFormat
	}
	if err := validateText("auto-login format", format, MaxUsername); err != nil {
		return nil, err
	}
	if n := strings.Count(format, usernamePlaceholder); n != 1 {
		return nil, invalidf("auto-login format %s contains {username} %d times; it must contain it exactly once, as in %q",
			echo(format, 64), n, DefaultAutoLoginFormat)
	}
	before, after, _ := strings.Cut(format, usernamePlaceholder)
	if i := strings.IndexAny(before, "{}"); i >= 0 {
		return nil, invalidf("auto-login format %s has %q at offset %d: only {username} is substituted and braces are not allowed elsewhere",
			echo(format, 64), before[i], i)
	}
	if i := strings.IndexAny(after, "{}"); i >= 0 {
		return nil, invalidf("auto-login format %s has %q at offset %d: only {username} is substituted and braces are not allowed elsewhere",
			echo(format, 64), after[i], len(before)+len(usernamePlaceholder)+i)
	}
	a := &AutoLogin{format: format, before: before, after: after}
	if len(mapping) > 0 {
		a.mapping = make(map[string]string, len(mapping))
		for _, u := range slices.Sorted(maps.Keys(mapping)) {
			if err := validateText("username in the auto-login mapping", u, MaxUsername); err != nil {
				return nil, err
			}
			if err := validateText("auto-login name mapped for user "+echo(u, maxEcho), mapping[u], maxMapped); err != nil {
				return nil, err
			}
			a.mapping[u] = mapping[u]
		}
	}
	return a, nil
}

// Format returns the auto-login format of a, such as "autologin_{username}".
func (a *AutoLogin) Format() string {
	if a == nil || a.format == "" {
		return DefaultAutoLoginFormat
	}
	return a.format
}

// Logical returns the logical (unencoded) auto-login name for username: the
// mapped name when the mapping has username (mapped is then true), otherwise
// the format with {username} replaced. It does not validate username.
func (a *AutoLogin) Logical(username string) (name string, mapped bool) {
	if a == nil || a.format == "" {
		return "autologin_" + username, false
	}
	if m, ok := a.mapping[username]; ok {
		return m, true
	}
	return a.before + username + a.after, false
}

// Name returns the auto-login secret name for username under scheme s: the
// mapped name verbatim, or else s.Encode of the whole logical name (so Azure
// gives "autologin-5f-ABCD--user123" for ABCD\user123). mapped reports whether
// the mapping was used. Name validates username ([ValidateUsername]) and
// checks the result with [Scheme.Check]; on error name is "".
func (a *AutoLogin) Name(s *Scheme, username string) (name string, mapped bool, err error) {
	if err := ValidateUsername(username); err != nil {
		return "", false, err
	}
	logical, mapped := a.Logical(username)
	enc := logical
	if !mapped {
		enc = s.Encode(logical)
	}
	if err := s.Check(logical, enc); err != nil {
		return "", mapped, err
	}
	return enc, mapped, nil
}
