package broker

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// The limits on what a request may hold. They are checked before anything
// else, so a hostile request costs little and no message repeats more than a
// short prefix of it.
const (
	// MaxLocker is the longest locker name, in bytes.
	MaxLocker = 128
	// MaxCredential is the longest credential name, in bytes.
	MaxCredential = 256
	// MaxUsername is the longest Control Room username, in bytes.
	MaxUsername = 512
	// MaxAttributeName is the longest attribute name, in bytes.
	MaxAttributeName = 128
	// MaxAttributes is the most attributes a request may name or store.
	MaxAttributes = 64
	// MaxAttributeValue is the largest attribute value stored, in bytes.
	MaxAttributeValue = 64 << 10
	// MaxSecretSize is the largest credential stored (names and values),
	// in bytes.
	MaxSecretSize = 256 << 10
)

// Request names a credential the way the Control Room does.
type Request struct {
	// AutoLogin asks for the auto-login credential of Username; Locker and
	// Credential are then empty.
	AutoLogin bool
	// Locker is the locker name.
	Locker string
	// Credential is the credential name inside the locker.
	Credential string
	// Username is the Control Room user; for a locker credential, empty
	// means the system credential.
	Username string
	// Attributes, when not empty, keeps only these attributes of the
	// credential served.
	Attributes []string
	// Fresh reads from the vault past any cache (a bot whose login just
	// failed with a rotated password).
	Fresh bool
}

// validate checks the request's shape: lengths first, then encoding and
// control characters. It never echoes more than a short prefix.
func (r *Request) validate(credentialLabel string) error {
	if err := field("locker", r.Locker, MaxLocker); err != nil {
		return err
	}
	if err := field(credentialLabel, r.Credential, MaxCredential); err != nil {
		return err
	}
	if err := field("username", r.Username, MaxUsername); err != nil {
		return err
	}
	if len(r.Attributes) > MaxAttributes {
		return fmt.Errorf("%d attributes asked for; at most %d are allowed", len(r.Attributes), MaxAttributes)
	}
	for _, a := range r.Attributes {
		if err := attributeName(a); err != nil {
			return err
		}
	}
	return nil
}

// field checks one text field of a request: at most max bytes, valid UTF-8,
// no control characters. Empty is allowed here; the operation decides
// whether the field is required.
func field(what, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s is %d bytes long; at most %d are allowed", what, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for i, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%s %s contains the control character %U at offset %d", what, naming.Quote(v), r, i)
		}
	}
	return nil
}

func attributeName(a string) error {
	if a == "" {
		return fmt.Errorf("an attribute name is empty")
	}
	return field("attribute name", a, MaxAttributeName)
}

// validateSecret checks a credential to store: at least one attribute, at
// most MaxAttributes, names valid, each value and the whole within bounds.
func validateSecret(s *providers.Secret) error {
	if s == nil || len(s.Attributes) == 0 {
		return fmt.Errorf("a credential needs at least one attribute")
	}
	if len(s.Attributes) > MaxAttributes {
		return fmt.Errorf("the credential has %d attributes; at most %d are allowed", len(s.Attributes), MaxAttributes)
	}
	total := 0
	for k, v := range s.Attributes {
		if err := attributeName(k); err != nil {
			return err
		}
		if len(v) > MaxAttributeValue {
			return fmt.Errorf("attribute %s is %d bytes long; at most %d are allowed", naming.Quote(k), len(v), MaxAttributeValue)
		}
		total += len(k) + len(v)
	}
	if total > MaxSecretSize {
		return fmt.Errorf("the credential is %d bytes; at most %d are allowed", total, MaxSecretSize)
	}
	return nil
}
