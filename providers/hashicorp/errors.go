package hashicorp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretbroker/secretbroker/providers"
)

// classify returns the code of an error of a Vault call: Vault's HTTP
// status (404 NotFound, 403 and 401 PermissionDenied, 400
// InvalidArgument, 405 FailedPrecondition, 429 ResourceExhausted, 412 and
// 5xx Unavailable, which covers a sealed or standby server), context
// errors, and transport failures (Unavailable, by providers.TransportCode).
func classify(err error) providers.Code {
	c, _ := describe(err)
	return c
}

// describe returns the code of err and a caller-safe reason for it ("" for
// context errors, whose code says enough).
func describe(err error) (providers.Code, string) {
	if err == nil {
		return providers.OK, ""
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Code, pe.Reason
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		c := codeOfStatus(re.StatusCode)
		if r, ok := reasons[c]; ok {
			return c, r
		}
		return c, fmt.Sprintf("vault answered HTTP %d", re.StatusCode)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return providers.Canceled, ""
	case errors.Is(err, context.DeadlineExceeded):
		return providers.DeadlineExceeded, ""
	}
	if c, why, ok := providers.TransportCode(err); ok {
		r := "vault is unreachable: " + why
		if providers.IsTLSError(err) {
			r += " (check address, tls.ca_file, tls.server_name and the client certificate)"
		}
		return c, r
	}
	return providers.Unknown, "the vault request failed"
}

func codeOfStatus(status int) providers.Code {
	switch {
	case status == http.StatusNotFound:
		return providers.NotFound
	case status == http.StatusForbidden, status == http.StatusUnauthorized:
		return providers.PermissionDenied
	case status == http.StatusBadRequest:
		return providers.InvalidArgument
	case status == http.StatusMethodNotAllowed:
		return providers.FailedPrecondition
	case status == http.StatusTooManyRequests:
		return providers.ResourceExhausted
	case status == http.StatusPreconditionFailed, status >= 500:
		return providers.Unavailable
	}
	return providers.Unknown
}

// reasons give each code a caller-safe reason for Vault's error answers, so
// the broker can show more than a code without showing Vault's own text
// (which may name paths).
var reasons = map[providers.Code]string{
	providers.NotFound:           "no secret with that name",
	providers.PermissionDenied:   "vault refused this provider's token",
	providers.InvalidArgument:    "vault rejected the request as invalid",
	providers.Unavailable:        "vault is unavailable, sealed or on standby",
	providers.ResourceExhausted:  "vault is throttling requests (rate limit quota)",
	providers.FailedPrecondition: "vault does not support this operation on the mount",
}

// wrap turns an error from a Vault call made with ctx into the provider's
// error: the caller's own context errors stay what they are, the client's
// request timeout becomes Unavailable, requests aborted by Close say so,
// and every other error becomes a *providers.Error with a caller-safe
// reason (and, for throttling, the Retry-After that Vault sent).
func (p *Provider) wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if p.ctx.Err() != nil {
		return providers.Errorf(providers.FailedPrecondition, err, "provider is closed")
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// The client's timeout, not the caller's deadline.
		return providers.Errorf(providers.Unavailable, err, "vault did not answer within the request timeout")
	}
	code, reason := describe(err)
	e := providers.Errorf(code, err, "%s", reason)
	if code == providers.ResourceExhausted || code == providers.Unavailable {
		e.RetryAfter = retryAfterOf(ctx)
	}
	return e
}

// retryAfterKey is the context key of the *retryAfter a call records
// Vault's Retry-After header in.
type retryAfterKey struct{}

// retryAfter holds the last Retry-After header Vault sent with a 429 or
// 503 answer to the requests of one call. The api client's ResponseError
// keeps no headers, so closingTransport records them here.
type retryAfter struct {
	mu sync.Mutex
	d  time.Duration
}

// withRetryAfter returns ctx with a fresh *retryAfter for the transport to
// fill.
func withRetryAfter(ctx context.Context) context.Context {
	return context.WithValue(ctx, retryAfterKey{}, &retryAfter{})
}

// recordRetryAfter stores resp's Retry-After in the *retryAfter of ctx,
// if any.
func recordRetryAfter(ctx context.Context, resp *http.Response) {
	ra, ok := ctx.Value(retryAfterKey{}).(*retryAfter)
	if !ok || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return
	}
	d := providers.RetryAfterHeader(resp.Header, time.Now())
	ra.mu.Lock()
	ra.d = d
	ra.mu.Unlock()
}

// retryAfterOf returns what recordRetryAfter stored for ctx's call.
func retryAfterOf(ctx context.Context) time.Duration {
	ra, ok := ctx.Value(retryAfterKey{}).(*retryAfter)
	if !ok {
		return 0
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.d
}
