package naming

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Provider kinds, one per kind of external vault. A [Scheme] is built for one
// of them.
const (
	// AWS is AWS Secrets Manager.
	AWS = "aws"
	// Azure is Azure Key Vault.
	Azure = "azure"
	// HashiCorp is HashiCorp Vault (the encoded name is the last element of
	// the secret's path).
	HashiCorp = "hashicorp"
	// CyberArk is CyberArk (the encoded name is an object name in a Safe).
	CyberArk = "cyberark"
	// Embedded is the embedded store of the broker.
	Embedded = "embedded"
)

// kinds lists the provider kinds in the order Kinds returns them.
var kinds = [...]string{AWS, Azure, HashiCorp, CyberArk, Embedded}

// Kinds returns all provider kinds in a stable order: aws, azure, hashicorp,
// cyberark, embedded. The caller may modify the returned slice.
func Kinds() []string {
	out := make([]string, len(kinds))
	copy(out, kinds[:])
	return out
}

// knownKind reports whether kind is one of Kinds.
func knownKind(kind string) bool {
	for _, k := range kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Options configures the raw set of a [Scheme]. The zero value selects the
// kind's default raw set.
type Options struct {
	// Allowed is a regular expression in the seed's form, such as
	// `^[A-Za-z0-9/_+=.@-]+$`: a character passes raw when the one-character
	// string matches it. "" selects the kind's default raw set.
	Allowed string
	// None selects encoding none: every character passes raw (bytes that are
	// not valid UTF-8 are still encoded). It cannot be combined with Allowed.
	None bool
}

// Scheme is the encoding of logical names for one provider instance: a
// provider kind and the set of characters that pass raw. A Scheme is
// immutable and safe for concurrent use; build it with [NewScheme].
type Scheme struct {
	kind    string
	allowed string         // Options.Allowed, "" for the default set
	re      *regexp.Regexp // compiled allowed, nil for the default set
	none    bool
	ascii   [utf8.RuneSelf]bool // raw set restricted to ASCII, precomputed
}

// Default raw sets beyond the alphanumerics, from NAMING.md.
var defaultExtra = map[string]string{
	AWS:       "_+=",
	Azure:     "",
	HashiCorp: "+=",
	CyberArk:  "_+=",
	Embedded:  "_+=",
}

// NewScheme returns the encoding scheme for a provider of the given kind with
// options opt. It validates at once: an unknown kind, an Allowed expression
// that does not compile, or Allowed together with None give an error wrapping
// [ErrInvalid] that says how to fix the configuration.
func NewScheme(kind string, opt Options) (*Scheme, error) {
	if !knownKind(kind) {
		return nil, invalidf("unknown provider kind %s: use one of %s",
			echo(kind, maxEcho), strings.Join(Kinds(), ", "))
	}
	if opt.None && opt.Allowed != "" {
		return nil, invalidf("%s: an allowed-characters regular expression (%q) and encoding none are exclusive: set one of them, not both",
			kind, opt.Allowed)
	}
	s := &Scheme{kind: kind, allowed: opt.Allowed, none: opt.None}
	switch {
	case opt.None:
		for c := range s.ascii {
			s.ascii[c] = true
		}
	case opt.Allowed != "":
		re, err := regexp.Compile(opt.Allowed)
		if err != nil {
			return nil, fmt.Errorf("naming: %w: %s: the allowed-characters regular expression %q does not compile (%w); write it in Go (RE2) syntax, such as `^[A-Za-z0-9_+=]+$`",
				ErrInvalid, kind, opt.Allowed, err)
		}
		s.re = re
		for c := range s.ascii {
			s.ascii[c] = re.MatchString(string(rune(c)))
		}
	default:
		for c := range s.ascii {
			b := byte(c)
			s.ascii[c] = 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' ||
				strings.IndexByte(defaultExtra[kind], b) >= 0
		}
	}
	return s, nil
}

// Kind returns the provider kind of s, one of [Kinds].
func (s *Scheme) Kind() string { return s.kind }

// String describes s for logs and messages, such as
// "aws (default raw set A-Z a-z 0-9 _ + =)", "hashicorp (raw: ^[A-Za-z0-9]+$)"
// or "cyberark (encoding: none)".
func (s *Scheme) String() string {
	switch {
	case s.none:
		return s.kind + " (encoding: none)"
	case s.re != nil:
		return s.kind + " (raw: " + s.allowed + ")"
	}
	set := "A-Z a-z 0-9"
	for _, c := range defaultExtra[s.kind] {
		set += " " + string(c)
	}
	return s.kind + " (default raw set " + set + ")"
}

// Ambiguous reports whether the encoding of s is not reversible: '-' passes
// raw (always so with encoding none), so a '-' in an encoded name may be
// literal or start a token. Configuration loading should warn about it.
func (s *Scheme) Ambiguous() bool { return s.Raw('-') }

// CaseInsensitive reports whether the provider of s compares secret names
// without regard to case (Azure Key Vault and CyberArk): two usernames that
// differ only in case reach the same secret there.
func (s *Scheme) CaseInsensitive() bool { return s.kind == Azure || s.kind == CyberArk }

// Raw reports whether r passes raw (unencoded) under s. It is false for
// values that are not valid Unicode code points.
func (s *Scheme) Raw(r rune) bool {
	switch {
	case !utf8.ValidRune(r):
		return false
	case r < utf8.RuneSelf:
		return s.ascii[r]
	case s.none:
		return true
	case s.re != nil:
		return s.re.MatchString(string(r))
	}
	return false
}

const hexDigits = "0123456789abcdef"

// writeToken writes the token "-hh-" for byte c.
func writeToken(b *strings.Builder, c byte) {
	b.WriteByte('-')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
	b.WriteByte('-')
}

// Encode returns the encoding of logical under s, as NAMING.md specifies:
// characters of the raw set pass unchanged, `\` becomes "--", and every other
// character becomes "-hh-" for each byte of its UTF-8 form, hh in lowercase
// hex. Bytes that are not valid UTF-8 are encoded byte-wise, whatever the raw
// set. Encode does not check the result; see [Scheme.Check] and [Scheme.Name].
func (s *Scheme) Encode(logical string) string {
	i := 0
	for i < len(logical) && logical[i] < utf8.RuneSelf && s.ascii[logical[i]] {
		i++
	}
	if i == len(logical) {
		return logical
	}
	var b strings.Builder
	b.Grow(i + 4*(len(logical)-i))
	b.WriteString(logical[:i])
	for i < len(logical) {
		r, size := utf8.DecodeRuneInString(logical[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeToken(&b, logical[i])
		case s.Raw(r):
			b.WriteString(logical[i : i+size])
		case r == '\\':
			b.WriteString("--")
		default:
			for k := i; k < i+size; k++ {
				writeToken(&b, logical[k])
			}
		}
		i += size
	}
	return b.String()
}

// Name returns the encoded name of logical under s: [Scheme.Encode] followed
// by [Scheme.Check]. On error the name is "" and the error is a [*RuleError].
func (s *Scheme) Name(logical string) (string, error) {
	enc := s.Encode(logical)
	if err := s.Check(logical, enc); err != nil {
		return "", err
	}
	return enc, nil
}

// Decode returns the logical name that s encodes as encoded; it is the inverse
// of [Scheme.Encode] and meant for diagnostics.
//
// Decode accepts only the canonical form that Encode writes: tokens "--" and
// "-hh-" with two lowercase hex digits, raw characters of the scheme's raw
// set, and no token for a character that passes raw. Anything else gives an
// error wrapping [ErrInvalid] that names the offset and the bad token, so
// that Encode(Decode(e)) == e whenever Decode succeeds.
//
// For an ambiguous scheme (see [Scheme.Ambiguous]) Decode does not guess: it
// decodes a name without '-' (which can only be the literal name) and returns
// an error wrapping both [ErrInvalid] and [ErrAmbiguous] for any name that
// contains a '-'.
func (s *Scheme) Decode(encoded string) (string, error) {
	if s.Ambiguous() {
		if i := strings.IndexByte(encoded, '-'); i >= 0 {
			return "", fmt.Errorf("naming: %w: %w: cannot decode %s under %s: '-' passes raw there, so the '-' at offset %d may be literal or start a token; drop '-' from the allowed characters to make the encoding reversible",
				ErrInvalid, ErrAmbiguous, echo(encoded, 64), s, i)
		}
	}
	out := make([]byte, 0, len(encoded))
	runStart, runOut := -1, 0 // offset in encoded and in out of the current run of "-hh-" tokens
	flush := func() error {
		if runStart < 0 {
			return nil
		}
		run := out[runOut:]
		for j := 0; j < len(run); {
			r, size := utf8.DecodeRune(run[j:])
			if !(r == utf8.RuneError && size == 1) && (s.Raw(r) || r == '\\') {
				at := runStart + 4*j
				return s.decodeErr(encoded, at, encoded[at:at+4*size],
					fmt.Sprintf("the tokens encode %q, which %s writes as %q: the name is not in canonical form", r, s, s.Encode(string(r))))
			}
			j += size
		}
		runStart = -1
		return nil
	}
	for i := 0; i < len(encoded); {
		c := encoded[i]
		if c == '-' {
			if i+1 < len(encoded) && encoded[i+1] == '-' {
				if err := flush(); err != nil {
					return "", err
				}
				if s.Raw('\\') {
					return "", s.decodeErr(encoded, i, "--", `\ passes raw in this scheme, so "--" is not a token Encode writes`)
				}
				out = append(out, '\\')
				i += 2
				continue
			}
			hi, ok1 := unhex(encoded, i+1)
			lo, ok2 := unhex(encoded, i+2)
			if !ok1 || !ok2 || i+3 >= len(encoded) || encoded[i+3] != '-' {
				return "", s.tokenErr(encoded, i)
			}
			if runStart < 0 {
				runStart, runOut = i, len(out)
			}
			out = append(out, hi<<4|lo)
			i += 4
			continue
		}
		if err := flush(); err != nil {
			return "", err
		}
		r, size := utf8.DecodeRuneInString(encoded[i:])
		if r == utf8.RuneError && size == 1 {
			return "", s.decodeErr(encoded, i, encoded[i:i+1], "not valid UTF-8 (Encode writes such bytes as tokens)")
		}
		if !s.Raw(r) {
			return "", s.decodeErr(encoded, i, encoded[i:i+size],
				fmt.Sprintf("%q does not pass raw in %s; Encode writes it as %q", r, s, s.Encode(string(r))))
		}
		out = append(out, encoded[i:i+size]...)
		i += size
	}
	if err := flush(); err != nil {
		return "", err
	}
	return string(out), nil
}

// unhex returns the value of the lowercase hex digit at s[i].
func unhex(s string, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// tokenErr explains why the token starting with the '-' at encoded[i] is
// malformed.
func (s *Scheme) tokenErr(encoded string, i int) error {
	end := min(i+4, len(encoded))
	tok := encoded[i:end]
	isHex := func(c byte) bool {
		return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
	}
	n := len(encoded)
	var why string
	switch {
	case i+1 == n:
		why = `a trailing '-' starts no token`
	case !isHex(encoded[i+1]) || i+2 < n && !isHex(encoded[i+2]):
		why = `want "--" or "-hh-" with two lowercase hex digits`
	case i+3 >= n:
		why = `the token is cut short: want "-hh-"`
	case encoded[i+3] != '-':
		why = `the token is not closed by '-': want "-hh-"`
	default:
		why = fmt.Sprintf("hex digits must be lowercase: the canonical token is %q", strings.ToLower(tok))
	}
	return s.decodeErr(encoded, i, tok, why)
}

// decodeErr is the error for the bad token tok at offset at of encoded.
func (s *Scheme) decodeErr(encoded string, at int, tok, why string) error {
	return invalidf("cannot decode %s under %s: bad token %q at offset %d: %s",
		echo(encoded, 64), s, tok, at, why)
}

// invalidf returns an error wrapping ErrInvalid with the formatted message.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("naming: %w: "+format, append([]any{ErrInvalid}, args...)...)
}
