package naming

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Provider limits enforced by [Scheme.Check].
const (
	// MaxAzure is the maximum length of an Azure Key Vault secret name, in
	// characters.
	MaxAzure = 127
	// MaxAWS is the maximum length of an AWS Secrets Manager secret name, in
	// characters.
	MaxAWS = 512
	// MaxCyberArk is the maximum length of a CyberArk object name, in
	// characters.
	MaxCyberArk = 128
	// MaxHashiCorp is the maximum length of the last path element of a
	// HashiCorp Vault secret, in bytes (a limit this project chose).
	MaxHashiCorp = 512
	// MaxEmbedded is the maximum length of an embedded store name, in bytes
	// (a limit this project chose).
	MaxEmbedded = 1024
	// MaxSafe is the maximum length of a CyberArk Safe name, in characters.
	MaxSafe = 28
)

// RuleError reports an encoded name that its provider cannot hold. Its Error
// method names the provider, the logical name, the encoded name, the rule
// broken and how to fix it. A RuleError wraps [ErrInvalid].
type RuleError struct {
	// Provider is the provider kind, one of [Kinds].
	Provider string
	// Logical is the logical (unencoded) name.
	Logical string
	// Encoded is the name as it would be sent to the provider.
	Encoded string
	// Rule says which rule of the provider the encoded name breaks and
	// where, such as "CyberArk object names may not contain ...".
	Rule string
	// Fix, when not empty, says how to fix the configuration or the name.
	Fix string
}

// Error returns a one-line description of e. Long names are cut in the
// message (the fields hold them in full).
func (e *RuleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "naming: %s: %s cannot hold the secret name %s (logical name %s): %s",
		ErrInvalid, e.Provider, echo(e.Encoded, 96), echo(e.Logical, 96), e.Rule)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Unwrap returns [ErrInvalid], so that errors.Is(err, ErrInvalid) holds for a
// RuleError.
func (e *RuleError) Unwrap() error { return ErrInvalid }

// isControl reports whether r is a control character for this package:
// unicode.IsControl (C0, DEL and C1) or a Unicode line or paragraph separator
// (U+2028, U+2029), which break log lines as a newline does.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// Fixes shared by several rules.
const (
	fixShorten = "shorten the locker prefix, credential name or username (or the auto-login format or mapped name); each character outside the raw set takes 2 to 4 characters per UTF-8 byte once encoded"
	fixRawSet  = "let the encoding substitute the character: keep it out of the allowed-characters regular expression and do not use encoding none (or change the mapped auto-login name)"
)

// Check reports whether the provider of s can hold encoded, the encoding of
// logical. It returns nil or a [*RuleError] for the first rule broken:
//
//   - azure: 1 to 127 characters, only 0-9 a-z A-Z and '-';
//   - aws: 1 to 512 characters, only A-Z a-z 0-9 / _ + = . @ -;
//   - cyberark (object names): 1 to 128 characters of valid UTF-8, none of
//     \ / : * ? " < > | and no control characters;
//   - hashicorp (the encoded name is the last element of the secret's path):
//     1 to 512 bytes of valid UTF-8, no '/', no control characters, not "."
//     or "..";
//   - embedded: 1 to 1024 bytes of valid UTF-8, no control characters.
//
// Control characters are those of unicode.IsControl plus U+2028 and U+2029.
// Check uses logical only to report it.
func (s *Scheme) Check(logical, encoded string) error {
	rule, fix := checkRule(s.kind, encoded)
	if rule == "" {
		return nil
	}
	return &RuleError{Provider: s.kind, Logical: logical, Encoded: encoded, Rule: rule, Fix: fix}
}

// checkRule returns the first rule of kind that encoded breaks and its fix,
// or "" when encoded is fine.
func checkRule(kind, encoded string) (rule, fix string) {
	if encoded == "" {
		return "the name is empty", "give the credential a name"
	}
	switch kind {
	case Azure:
		if i, r := firstNotIn(encoded, func(r rune) bool { return isAlnum(r) || r == '-' }); i >= 0 {
			return fmt.Sprintf("Azure Key Vault secret names may contain only 0-9 a-z A-Z and '-'; found %q at offset %d", r, i), fixRawSet
		}
		if n := len(encoded); n > MaxAzure {
			return fmt.Sprintf("Azure Key Vault secret names have at most %d characters; this one has %d", MaxAzure, n), fixShorten
		}
	case AWS:
		if i, r := firstNotIn(encoded, func(r rune) bool { return isAlnum(r) || strings.ContainsRune("/_+=.@-", r) }); i >= 0 {
			return fmt.Sprintf("AWS Secrets Manager secret names may contain only A-Z a-z 0-9 / _ + = . @ -; found %q at offset %d", r, i), fixRawSet
		}
		if n := len(encoded); n > MaxAWS {
			return fmt.Sprintf("AWS Secrets Manager secret names have at most %d characters; this one has %d", MaxAWS, n), fixShorten
		}
	case CyberArk:
		if rule := utf8Rule(encoded); rule != "" {
			return rule, fixRawSet
		}
		if i, r := firstNotIn(encoded, func(r rune) bool { return !isControl(r) && !strings.ContainsRune(`\/:*?"<>|`, r) }); i >= 0 {
			return fmt.Sprintf(`CyberArk object names may not contain \ / : * ? " < > | or control characters; found %q at offset %d`, r, i), fixRawSet
		}
		if n := utf8.RuneCountInString(encoded); n > MaxCyberArk {
			return fmt.Sprintf("CyberArk object names have at most %d characters; this one has %d", MaxCyberArk, n), fixShorten
		}
	case HashiCorp:
		if rule := utf8Rule(encoded); rule != "" {
			return rule, fixRawSet
		}
		if i, r := firstNotIn(encoded, func(r rune) bool { return !isControl(r) && r != '/' }); i >= 0 {
			if r == '/' {
				return fmt.Sprintf("the encoded name is the last element of the HashiCorp Vault path and may not contain '/'; found at offset %d", i),
					"put hierarchy in the provider's mount and path configuration and keep '/' out of the allowed-characters regular expression"
			}
			return fmt.Sprintf("HashiCorp Vault names may not contain control characters; found %q at offset %d", r, i), fixRawSet
		}
		if encoded == "." || encoded == ".." {
			return fmt.Sprintf("%q is not a usable HashiCorp Vault path element", encoded), "choose another name"
		}
		if n := len(encoded); n > MaxHashiCorp {
			return fmt.Sprintf("HashiCorp Vault names have at most %d bytes here; this one has %d", MaxHashiCorp, n), fixShorten
		}
	case Embedded:
		if rule := utf8Rule(encoded); rule != "" {
			return rule, fixRawSet
		}
		if i, r := firstNotIn(encoded, func(r rune) bool { return !isControl(r) }); i >= 0 {
			return fmt.Sprintf("embedded store names may not contain control characters; found %q at offset %d", r, i), fixRawSet
		}
		if n := len(encoded); n > MaxEmbedded {
			return fmt.Sprintf("embedded store names have at most %d bytes; this one has %d", MaxEmbedded, n), fixShorten
		}
	default:
		return fmt.Sprintf("unknown provider kind %q", kind), "use one of " + strings.Join(Kinds(), ", ")
	}
	return "", ""
}

// isAlnum reports whether r is an ASCII letter or digit.
func isAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// firstNotIn returns the offset and value of the first rune of s for which ok
// is false, or -1. A byte that is not valid UTF-8 is reported as
// utf8.RuneError and is never ok.
func firstNotIn(s string, ok func(rune) bool) (int, rune) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !ok(r) {
			return i, r
		}
		i += size
	}
	return -1, 0
}

// utf8Rule returns a rule when s is not valid UTF-8.
func utf8Rule(s string) string {
	if utf8.ValidString(s) {
		return ""
	}
	i, _ := firstNotIn(s, func(rune) bool { return true })
	return fmt.Sprintf("the name is not valid UTF-8 (byte 0x%02x at offset %d)", s[i], i)
}

// CheckSafe checks a CyberArk Safe name. It enforces: valid UTF-8, 1 to 28
// characters, no control characters, none of \ / : * ? " < > | . ' and no
// leading or trailing space. The error wraps [ErrInvalid].
func CheckSafe(safe string) error {
	if rule := utf8Rule(safe); rule != "" {
		return invalidf("CyberArk Safe name %s: %s", echo(safe, maxEcho), rule)
	}
	if safe == "" {
		return invalidf("CyberArk Safe name is empty: give the locker's Safe")
	}
	if n := utf8.RuneCountInString(safe); n > MaxSafe {
		return invalidf("CyberArk Safe name %s has %d characters; CyberArk allows at most %d", echo(safe, maxEcho), n, MaxSafe)
	}
	if i, r := firstNotIn(safe, func(r rune) bool { return !isControl(r) && !strings.ContainsRune(`\/:*?"<>|.'`, r) }); i >= 0 {
		return invalidf(`CyberArk Safe name %s contains %q at offset %d; Safe names may not contain \ / : * ? " < > | . ' or control characters`,
			echo(safe, maxEcho), r, i)
	}
	if safe[0] == ' ' || safe[len(safe)-1] == ' ' {
		return invalidf("CyberArk Safe name %s starts or ends with a space; remove it", echo(safe, maxEcho))
	}
	return nil
}
