// Package auth holds what the transports and the broker share about access:
// the authenticated Principal that a transport puts in the request's context,
// the Operations a caller may be granted, and the Authorizer the broker asks
// before it computes a name or calls a vault. It is the vocabulary only; the
// transports (package auth/grpcauth, the CCP endpoint) authenticate, and
// package policy decides.
package auth

import (
	"context"
	"fmt"
	"time"
)

// Method says how a Principal proved its identity.
type Method string

// The authentication methods.
const (
	// MethodMTLS is a client certificate verified against the configured CA.
	MethodMTLS Method = "mtls"
	// MethodToken is a bearer token whose hash is in the configuration.
	MethodToken Method = "token"
	// MethodUnix is the peer's uid and gid on a unix socket (SO_PEERCRED).
	MethodUnix Method = "unix"
	// MethodInternal is the daemon itself (preflight of its own, tests).
	MethodInternal Method = "internal"
)

// Principal is an authenticated caller. Its ID is what policy rules match:
// a SPIFFE ID or DNS name from a client certificate, the identity a token
// names, or unix:uid:N / unix:user:NAME for a peer on a unix socket.
type Principal struct {
	// ID is the authenticated identity.
	ID string
	// Method is how it was authenticated.
	Method Method
	// Aliases are further identities the same caller proved (on a unix
	// socket both unix:uid:1001 and unix:user:bot); rules may match any.
	Aliases []string
}

// String returns the ID and the method, for logs.
func (p Principal) String() string { return fmt.Sprintf("%s (%s)", p.ID, p.Method) }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal a transport put in ctx, and whether
// there is one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.ID != ""
}

type purposeKey struct{}

// WithPurpose returns ctx carrying the caller's stated purpose: free text
// (CyberArk's Reason, a client's x-secretbroker-purpose header) recorded in
// the audit as such, never used as an identity.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return context.WithValue(ctx, purposeKey{}, purpose)
}

// PurposeFromContext returns the purpose WithPurpose stored, or "".
func PurposeFromContext(ctx context.Context) string {
	s, _ := ctx.Value(purposeKey{}).(string)
	return s
}

// Operation is what a caller may be granted.
type Operation int

// The operations.
const (
	// OpAutoLogin reads auto-login credentials.
	OpAutoLogin Operation = iota + 1
	// OpCredential reads user-defined and system credentials of a locker.
	OpCredential
	// OpResolve computes the names a request would read, without reading.
	OpResolve
	// OpList lists lockers.
	OpList
	// OpWrite stores and deletes credentials.
	OpWrite
	// OpCheck asks whether secrets exist, never for their values
	// (preflight).
	OpCheck
	// OpAdmin invalidates caches and reloads the configuration.
	OpAdmin
)

var opNames = [...]string{"", "autologin", "credential", "resolve", "list", "write", "check", "admin"}

// String returns the operation's configuration name.
func (o Operation) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Operation(%d)", int(o))
}

// ParseOperation returns the operation named s, as written in a policy.
func ParseOperation(s string) (Operation, error) {
	for i, n := range opNames {
		if i > 0 && n == s {
			return Operation(i), nil
		}
	}
	return 0, fmt.Errorf("operation %q is not known (write autologin, credential, resolve, list, write, check or admin)", s)
}

// Action is what a caller asks to do: an operation, on a locker (empty for
// auto-login, list and admin), for a Control Room username (empty for system
// credentials).
type Action struct {
	// Op is the operation.
	Op Operation
	// Locker is the locker, "" where the operation has none.
	Locker string
	// Username is the Control Room username, "" for a system credential.
	Username string
}

// AutoLoginLocker is the locker name an Action carries when it resolves,
// writes or checks auto-login credentials (which belong to no locker), so
// that a policy grants those with lockers: ["@autologin"] (or "*"). Reading
// them is operation autologin, which takes no locker. No configured locker
// may have this name.
const AutoLoginLocker = "@autologin"

// Decision is an Authorizer's answer.
type Decision struct {
	// Allowed says whether the action may go ahead.
	Allowed bool
	// Rule names the rule that decided (for the audit), such as
	// "clients[2] bot-pool-a" or "default deny".
	Rule string
	// Limited is set when the caller is over its rate limit: the action is
	// not allowed, and RetryAfter says when to try again.
	Limited bool
	// RetryAfter is set with Limited.
	RetryAfter time.Duration
}

// Authorizer decides whether a principal may do an action. The broker asks
// it before computing any name or calling any vault.
type Authorizer interface {
	// Authorize decides one action, spending the caller's rate limit.
	Authorize(ctx context.Context, p Principal, a Action) Decision
	// Visible reports whether p may use locker for some operation, without
	// spending its rate limit (ListLockers filters with it).
	Visible(p Principal, locker string) bool
}
