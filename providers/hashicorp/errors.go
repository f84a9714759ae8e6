package hashicorp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/hashicorp/vault/api"
	"github.com/secretbroker/secretbroker/providers"
)

// Code classifies an error returned by the provider: Vault's HTTP status
// (404 NotFound, 403 PermissionDenied, 400 InvalidArgument, 412, 429 and 5xx
// Unavailable, which covers a sealed or standby server), and connection and
// TLS failures (Unavailable).
func (p *Provider) Code(err error) providers.Code {
	return classify(err)
}

func classify(err error) providers.Code {
	if err == nil {
		return providers.OK
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		return codeOfStatus(re.StatusCode)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return providers.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return providers.DeadlineExceeded
	}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		record      tls.RecordHeaderError
		alert       tls.AlertError
		netErr      net.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalidCert),
		errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert):
		return providers.Unavailable
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return providers.Unavailable
	}
	return providers.Unknown
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
	case status == http.StatusPreconditionFailed, status == http.StatusTooManyRequests, status >= 500:
		return providers.Unavailable
	}
	return providers.Unknown
}

// reasons give each code a caller-safe reason for errors from Vault, so the
// broker can show more than a code without showing Vault's own text (which
// may name paths).
var reasons = map[providers.Code]string{
	providers.NotFound:           "no secret with that name",
	providers.PermissionDenied:   "vault refused this provider's token",
	providers.InvalidArgument:    "vault rejected the request as invalid",
	providers.Unavailable:        "vault is unavailable, sealed or throttling",
	providers.FailedPrecondition: "vault does not support this operation on the mount",
}

// wrap turns an error from a Vault call made with ctx into the provider's
// error: the caller's own context errors stay what they are, the client's
// request timeout becomes Unavailable, requests aborted by Close say so, and
// classified Vault errors get a caller-safe reason.
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
		// The client's request_timeout, not the caller's deadline.
		return providers.Errorf(providers.Unavailable, err, "vault did not answer within the request timeout")
	}
	code := classify(err)
	if r, ok := reasons[code]; ok {
		return providers.Errorf(code, err, "%s", r)
	}
	return err
}
