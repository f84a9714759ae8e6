package embedded

import (
	"context"
	"errors"
	"io/fs"

	bberrors "go.etcd.io/bbolt/errors"

	"github.com/secretbroker/secretbroker/providers"
)

// The sentinel errors of the store. Errors returned by the Provider wrap one
// of them (test with errors.Is) inside a *providers.Error that carries the
// code given here.
var (
	// ErrNotFound: no secret at that name, or not at that version. Code: NotFound.
	ErrNotFound = errors.New("secret not found")
	// ErrReadOnly: Put or Delete on a store opened read-only. Code: FailedPrecondition.
	ErrReadOnly = errors.New("store is open read-only")
	// ErrClosed: the Provider was closed. Code: FailedPrecondition.
	ErrClosed = errors.New("store is closed")
	// ErrInvalidRef: a Ref or Secret the store cannot hold (empty name, NUL in
	// the location, name too long, malformed version). Code: InvalidArgument.
	ErrInvalidRef = errors.New("invalid reference")
	// ErrWrongKey: the key file's key does not open the store. Code: FailedPrecondition.
	ErrWrongKey = errors.New("wrong key")
	// ErrUnsupportedFormat: the store or a record was written in a format
	// this build does not read. Code: FailedPrecondition for the store,
	// Internal for a record.
	ErrUnsupportedFormat = errors.New("unsupported format version")
	// ErrAuthentication: a record failed AES-GCM authentication (wrong key,
	// damaged file, or a record moved under another name). Code: Internal.
	ErrAuthentication = errors.New("record failed authentication")
	// ErrDamaged: the file is not a secretbroker store or is damaged. Code: Internal.
	ErrDamaged = errors.New("store is damaged")
	// ErrInUse: another process holds the store's file lock. Code: Unavailable.
	ErrInUse = errors.New("store is in use by another process")
)

// The reasons callers see (they name no value, path or inner error).
const (
	reasonAuth     = "record failed authentication (wrong key, damaged file, or record moved)"
	reasonDamaged  = "the embedded store file is damaged"
	reasonReadOnly = "the embedded store is open read-only (writable: false in its configuration)"
)

// classified returns err as a Provider method returns it: nil, a context
// error, or err itself when it already holds a *providers.Error, else err
// wrapped in a *providers.Error with code's classification and a
// caller-safe reason.
func classified(err error) error {
	if err == nil {
		return nil
	}
	var pe *providers.Error
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	c := code(err)
	return providers.Errorf(c, err, "%s", reasonOf(c, err))
}

// reasonOf is the caller-safe reason of an error that code classified as c.
func reasonOf(c providers.Code, err error) string {
	switch {
	case c == providers.NotFound:
		return "no secret with that name"
	case errors.Is(err, ErrClosed), errors.Is(err, bberrors.ErrDatabaseNotOpen):
		return "the embedded store is closed"
	case c == providers.InvalidArgument:
		return "the name or value is too large for the embedded store"
	case c == providers.PermissionDenied:
		return "permission denied on the embedded store file"
	case c == providers.Unavailable:
		return "the embedded store file could not be read or written"
	case c == providers.Internal:
		return reasonDamaged
	case c == providers.FailedPrecondition:
		return "the embedded store cannot do this in its current state"
	}
	return "the embedded store failed"
}

// code classifies an error of this package: context errors,
// *providers.Error, the sentinels above and bbolt's own errors.
func code(err error) providers.Code {
	if err == nil {
		return providers.OK
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return providers.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return providers.DeadlineExceeded
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return providers.NotFound
	case errors.Is(err, ErrInvalidRef),
		errors.Is(err, bberrors.ErrKeyRequired),
		errors.Is(err, bberrors.ErrKeyTooLarge),
		errors.Is(err, bberrors.ErrValueTooLarge):
		return providers.InvalidArgument
	case errors.Is(err, ErrReadOnly),
		errors.Is(err, ErrClosed),
		errors.Is(err, ErrWrongKey),
		errors.Is(err, bberrors.ErrDatabaseReadOnly),
		errors.Is(err, bberrors.ErrTxNotWritable),
		errors.Is(err, bberrors.ErrDatabaseNotOpen):
		return providers.FailedPrecondition
	case errors.Is(err, ErrInUse), errors.Is(err, bberrors.ErrTimeout):
		return providers.Unavailable
	case errors.Is(err, ErrAuthentication),
		errors.Is(err, ErrDamaged),
		errors.Is(err, ErrUnsupportedFormat),
		errors.Is(err, bberrors.ErrInvalid),
		errors.Is(err, bberrors.ErrChecksum),
		errors.Is(err, bberrors.ErrVersionMismatch):
		return providers.Internal
	case errors.Is(err, fs.ErrPermission):
		return providers.PermissionDenied
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		// The file system failed under a transaction (disk full, I/O error).
		return providers.Unavailable
	}
	return providers.Unknown
}

// openError is an error from New. Its text is a complete sentence for the
// operator (it names the files, never the key), so it does not repeat the
// inner error's text; errors.As finds the *providers.Error with its code and
// errors.Is finds the sentinel and the cause.
type openError struct {
	pe *providers.Error
}

func (e *openError) Error() string { return e.pe.Reason }
func (e *openError) Unwrap() error { return e.pe }

// openFail returns an openError: code c, sentinel and cause (either may be
// nil) in the chain, and the formatted message, to which cause's text is
// appended when withCause is set.
func openFail(c providers.Code, sentinel, cause error, withCause bool, format string, args ...any) error {
	pe := providers.Errorf(c, nil, format, args...)
	if withCause && cause != nil {
		pe.Reason += ": " + cause.Error()
	}
	switch {
	case sentinel != nil && cause != nil:
		pe.Err = errors.Join(sentinel, cause)
	case sentinel != nil:
		pe.Err = sentinel
	default:
		pe.Err = cause
	}
	return &openError{pe: pe}
}
