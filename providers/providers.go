// Package providers defines the contract between the broker and the secret
// backends it reads from: the Provider interface that every backend package
// under providers/ implements, the Ref that says where a secret lives, the
// Secret that comes back, and the Code that classifies a backend's errors.
//
// The package is the portable layer in the sense of gocloud.dev: each backend
// keeps its SDK types to itself and only has to answer Get, Code and Close;
// behaviour shared by all backends (context errors, wrapped classified errors)
// lives here, in CodeOf.
package providers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Provider reads (and, where the backend allows, writes) secrets of one
// backend instance: an AWS account and region, an Azure vault, a Vault mount,
// a CyberArk AppID, an embedded store file. Implementations are safe for
// concurrent use.
//
// Every error a Provider returns is already classified: CodeOf(err) gives its
// Code without knowing which provider returned it. A driver wraps its
// backend's errors once, at its boundary, in an *Error (Errorf, Classify);
// a middleware passes them on unchanged or returns an *Error of its own.
type Provider interface {
	// Get returns the secret at ref. ref.Name is already encoded for the
	// backend; Get must not re-encode it. Get honours ctx's deadline and
	// cancellation.
	Get(ctx context.Context, ref Ref) (*Secret, error)
	// Put stores s at ref, replacing any current value. A provider that is
	// not Writable returns an error whose code is FailedPrecondition.
	Put(ctx context.Context, ref Ref, s *Secret) error
	// Delete removes the secret at ref. Deleting a missing secret is a
	// NotFound error; a provider that is not Writable returns
	// FailedPrecondition.
	Delete(ctx context.Context, ref Ref) error
	// Writable reports whether Put and Delete are allowed: the backend can
	// store secrets and the configuration allows it.
	Writable() bool
	// Check reports whether the backend is reachable and accepts the
	// provider's identity, without reading any secret the broker serves. It
	// returns nil when healthy, else a classified error.
	Check(ctx context.Context) error
	// Close releases the provider's resources.
	Close() error
}

// Middleware wraps a Provider with behaviour of its own (a cache, a circuit
// breaker, metrics). The Provider it returns keeps next's Writable answer and
// classifies its errors the same way.
type Middleware func(next Provider) Provider

// Chain wraps p in mws, the first middleware outermost: Chain(p, a, b) is
// a(b(p)).
func Chain(p Provider, mws ...Middleware) Provider {
	for i := len(mws) - 1; i >= 0; i-- {
		p = mws[i](p)
	}
	return p
}

// NotWritable returns the error Put and Delete return on a provider that is
// not Writable.
func NotWritable(kind string) *Error {
	return Errorf(FailedPrecondition, nil, "provider kind %s is read-only here (set writable: true in its configuration, where the kind supports writes)", kind)
}

// Ref says where a secret lives inside one provider.
type Ref struct {
	// Location is the backend place the provider looks in that is not part of
	// the secret's name: the Safe on CyberArk. It is empty for backends whose
	// locker maps to a name prefix (the prefix is part of Name).
	Location string
	// Name is the encoded secret name, as the backend stores it.
	Name string
	// Version selects a version; "" is the current one.
	Version string
	// Reason says who asks and why, for backends that keep their own audit
	// (CyberArk's Reason parameter). It never holds secret material.
	Reason string
	// Fresh asks for a read from the vault itself, past any cache (a bot
	// whose login just failed with a rotated password). It is not part of
	// the secret's identity: caches key on Location, Name and Version.
	Fresh bool
}

// String returns "location/name" (or just the name) for messages. It never
// includes the version or reason.
func (r Ref) String() string {
	if r.Location == "" {
		return r.Name
	}
	return r.Location + "/" + r.Name
}

// Secret is a credential read from a backend.
type Secret struct {
	// Attributes are the credential's fields: username, password, domain and
	// whatever else the backend holds. Values are arbitrary bytes.
	Attributes map[string]string
	// Version identifies the version that was read, when the backend has one.
	Version string
	// UpdatedAt is when the version was written, when the backend says.
	UpdatedAt time.Time
	// Rotating is set by a provider when the value is in the middle of a
	// rotation (CyberArk's PasswordChangeInProcess, an AWS secret whose
	// current version has a pending successor): it may be served, but a
	// cache must not keep it as current.
	Rotating bool
	// Stale is set by a cache that served this value past its time to live
	// because the vault could not be reached (stale-if-error).
	Stale bool
}

// Clone returns a deep copy of s, so a caller may change it freely.
func (s *Secret) Clone() *Secret {
	if s == nil {
		return nil
	}
	c := *s
	c.Attributes = make(map[string]string, len(s.Attributes))
	for k, v := range s.Attributes {
		c.Attributes[k] = v
	}
	return &c
}

// GoString hides attribute values so that %#v never prints a secret.
func (s *Secret) GoString() string { return s.String() }

// String lists the attribute keys, never their values.
func (s *Secret) String() string {
	if s == nil {
		return "<nil secret>"
	}
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("Secret{keys: %v, version: %q}", keys, s.Version)
}

// Format makes every fmt verb (%v, %+v, %s, %#v) print String, so that a
// secret logged by mistake shows its keys only.
func (s *Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// Code classifies an error from a provider. The broker and the gRPC layer
// act on the code, never on error text.
type Code int

// The codes a provider's Code method may return.
const (
	// Unknown is an error the provider cannot classify.
	Unknown Code = iota
	// OK is no error.
	OK
	// NotFound: no secret at that name (or it is deleted, disabled, expired).
	NotFound
	// PermissionDenied: the backend refused the daemon's identity.
	PermissionDenied
	// Unavailable: the backend is down, sealed, throttling or unreachable.
	Unavailable
	// DeadlineExceeded: the caller's deadline passed.
	DeadlineExceeded
	// Canceled: the caller went away.
	Canceled
	// InvalidArgument: the request cannot be valid (a bad name).
	InvalidArgument
	// FailedPrecondition: the backend is not in a state to answer (several
	// objects matched, store not writable, wrong key).
	FailedPrecondition
	// Internal: the backend answered something the provider cannot use
	// (corrupt record, undecodable payload).
	Internal
	// ResourceExhausted: the backend (or a limit of the daemon's own) is
	// throttling; Error.RetryAfter says when to try again, when known.
	ResourceExhausted
)

var codeNames = [...]string{"Unknown", "OK", "NotFound", "PermissionDenied", "Unavailable",
	"DeadlineExceeded", "Canceled", "InvalidArgument", "FailedPrecondition", "Internal", "ResourceExhausted"}

// String returns the code's name.
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is an error a provider classified itself, with a reason that is safe
// to show the caller (it names no secret value and no inner error text).
// Providers return it where a backend answer needs more words than its code:
// "secret is disabled", "password change in process".
type Error struct {
	// Code classifies the error.
	Code Code
	// Reason is safe to show the caller.
	Reason string
	// RetryAfter is how long the backend asked the caller to wait before
	// trying again (throttling), 0 when it did not say.
	RetryAfter time.Duration
	// Err is the inner error, for logs only.
	Err error
}

// Errorf returns an *Error with code c, the caller-safe reason, and err as
// the inner error (which may be nil).
func Errorf(c Code, err error, reason string, args ...any) *Error {
	return &Error{Code: c, Reason: fmt.Sprintf(reason, args...), Err: err}
}

// Error returns the reason and the inner error.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the inner error.
func (e *Error) Unwrap() error { return e.Err }

// CodeOf classifies err: nil is OK, an *Error in the chain gives its code,
// context errors give Canceled or DeadlineExceeded, and anything else is
// Unknown (a driver that let an unclassified error out has a bug).
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return DeadlineExceeded
	}
	return Unknown
}

// Retryable reports whether an operation that failed with code c may succeed
// if tried again: Unavailable, ResourceExhausted.
func Retryable(c Code) bool { return c == Unavailable || c == ResourceExhausted }

// RetryAfterOf returns the RetryAfter of the first *Error in err's chain.
func RetryAfterOf(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}

// ReasonOf returns the caller-safe reason of the first *Error in err's chain,
// or "".
func ReasonOf(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

// ConfigError reports a bad field in a provider's configuration. The
// configuration loader turns Field into the file and line it came from, so
// constructors return it for every field they reject.
type ConfigError struct {
	// Field is the YAML key path inside the provider's block, such as
	// "region" or "auth.role_id_file".
	Field string
	// Problem says what is wrong, without the field's value when that value
	// could be a credential.
	Problem string
	// Fix says what to write instead.
	Fix string
}

// Error returns "field: problem (fix)".
func (e *ConfigError) Error() string {
	s := e.Field + ": " + e.Problem
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}
