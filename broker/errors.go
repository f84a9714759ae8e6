package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// Error is the one error type the broker returns. It wraps the inner error
// once and carries the code the gRPC layer maps to a status, and enough
// context (what was asked, which names were tried where) to build a message
// that is safe to send to the caller.
type Error struct {
	// Code classifies the error.
	Code providers.Code
	// Op is what the caller asked, in words: "get credential", "get
	// auto-login credential", "resolve", "put credential", ...
	Op string
	// Subject names what was asked for in the caller's words: the locker and
	// credential, or the username of an auto-login request.
	Subject string
	// Tried lists the secrets that were tried, in order.
	Tried []Candidate
	// Reason is a caller-safe explanation: it names no secret value and no
	// inner error text.
	Reason string
	// RetryAfter is when the caller may try again (rate limits, a
	// throttling vault), 0 when unknown.
	RetryAfter time.Duration
	// Err is the inner error; it may carry backend text and is for logs only.
	Err error
}

// Error returns the caller-safe message followed by the inner error, for
// logs. It never contains a secret value: providers keep values out of their
// errors, and the broker adds only names.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message()
	}
	return e.Message() + ": " + e.Err.Error()
}

// Unwrap returns the inner error.
func (e *Error) Unwrap() error { return e.Err }

// Message returns the message meant for the caller: what was asked, the
// secret names tried and where, and the reason, without the inner error text.
func (e *Error) Message() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Subject != "" {
		b.WriteString(" ")
		b.WriteString(e.Subject)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if len(e.Tried) > 0 {
		b.WriteString(" (tried ")
		for i, c := range e.Tried {
			if i > 0 {
				b.WriteString(", then ")
			}
			b.WriteString(c.Describe())
		}
		b.WriteString(")")
	}
	return b.String()
}

func newError(code providers.Code, op, subject string, err error, reason string, args ...any) *Error {
	return &Error{Code: code, Op: op, Subject: subject, Reason: fmt.Sprintf(reason, args...), Err: err,
		RetryAfter: providers.RetryAfterOf(err)}
}

// reasonFor returns the reason for a provider error: the provider's own
// caller-safe reason if it gave one, else a sentence for the code.
func reasonFor(code providers.Code, err error) string {
	if r := providers.ReasonOf(err); r != "" {
		return r
	}
	switch code {
	case providers.NotFound:
		return "secret not found"
	case providers.PermissionDenied:
		return "the vault refused the daemon's identity"
	case providers.Unavailable:
		return "the vault is unavailable"
	case providers.ResourceExhausted:
		return "the vault is throttling requests"
	case providers.DeadlineExceeded:
		return "the vault did not answer in time"
	case providers.Canceled:
		return "the request was cancelled"
	case providers.InvalidArgument:
		return "the vault rejected the request as invalid"
	case providers.FailedPrecondition:
		return "the vault cannot answer this request in its current state"
	case providers.Internal:
		return "the vault's answer could not be used"
	}
	return "the vault failed"
}
