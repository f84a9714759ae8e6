package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The reasons TransportCode gives. They name no host, address or inner
// error text, so a driver may show them to the caller as they are or after
// a prefix of its own ("Azure Key Vault: connection refused").
const (
	reasonRefused      = "connection refused"
	reasonReset        = "connection reset"
	reasonClosed       = "connection closed before the answer was complete"
	reasonUnreachable  = "host or network unreachable"
	reasonDNS          = "DNS lookup failed"
	reasonDNSNotFound  = "DNS lookup failed: no such host"
	reasonTimedOut     = "timed out"
	reasonNetwork      = "network error"
	reasonTLSUntrusted = "TLS handshake failed: certificate not trusted"
	reasonTLSHostname  = "TLS handshake failed: certificate does not match the host name"
	reasonTLSExpired   = "TLS handshake failed: certificate expired or not yet valid"
	reasonTLSInvalid   = "TLS handshake failed: certificate invalid"
	reasonTLSNoRoots   = "TLS handshake failed: no system root certificates"
	reasonTLSVerify    = "TLS handshake failed: certificate verification failed"
	reasonTLSNotTLS    = "TLS handshake failed: the server did not answer with TLS"
	reasonTLSAlert     = "TLS handshake failed: the server refused the handshake (client certificate or protocol)"
	reasonTLSLocal     = "TLS handshake failed"
)

// TransportCode classifies an error of a network exchange with a vault:
// dialing, the TLS handshake, sending the request or reading the answer.
// Drivers call it for the errors their HTTP client or SDK returns when no
// answer of the vault's own explains the failure, after they have looked at
// their caller's context (a cancelled or expired caller is the caller's
// business, not the vault's).
//
// It recognises refused, reset and unreachable connections, a connection
// closed mid-exchange (io.EOF, io.ErrUnexpectedEOF), TLS handshake and
// certificate verification failures of either side (including an alert
// the server sent, which crypto/tls reports as a *net.OpError with Op
// "remote error"), DNS failures (*net.DNSError) and timeouts (a net.Error
// whose Timeout is true, or context.DeadlineExceeded: with the caller's
// context still alive, a deadline is the driver's own request timeout).
// Every one is Unavailable, with a short reason that names no host and
// quotes no inner error, such as "connection refused" or "TLS handshake
// failed: certificate not trusted".
//
// ok is false for nil, for context.Canceled (a cancellation is the
// caller's, or the provider's Close) and for any error it does not
// recognise; the driver then classifies the error itself. Call it only on
// errors of the exchange: io.EOF from decoding an empty body is not a
// transport failure.
func TransportCode(err error) (code Code, reason string, ok bool) {
	if err == nil || errors.Is(err, context.Canceled) {
		return Unknown, "", false
	}
	if r, ok := tlsReason(err); ok {
		return Unavailable, r, true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return Unavailable, reasonDNSNotFound, true
		}
		return Unavailable, reasonDNS, true
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Unavailable, reasonRefused, true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return Unavailable, reasonReset, true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return Unavailable, reasonUnreachable, true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return Unavailable, reasonTimedOut, true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Unavailable, reasonTimedOut, true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Unavailable, reasonClosed, true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return Unavailable, reasonNetwork, true
	}
	return Unknown, "", false
}

// IsTLSError reports whether err is a failed TLS handshake or certificate
// verification, on either side, so that a driver can add a hint about its
// TLS settings to the reason TransportCode gives.
func IsTLSError(err error) bool {
	_, ok := tlsReason(err)
	return ok
}

// tlsReason returns the reason of a TLS failure in err's chain.
func tlsReason(err error) (string, bool) {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		roots     x509.SystemRootsError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		return reasonTLSUntrusted, true
	case errors.As(err, &hostname):
		return reasonTLSHostname, true
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return reasonTLSExpired, true
		}
		return reasonTLSInvalid, true
	case errors.As(err, &roots):
		return reasonTLSNoRoots, true
	case errors.As(err, &verify):
		return reasonTLSVerify, true
	case errors.As(err, &header):
		return reasonTLSNotTLS, true
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// crypto/tls reports an alert received from the server (such as
		// "certificate required" or "bad certificate" when it refuses the
		// client certificate) as a *net.OpError with Op "remote error"
		// around an unexported alert type.
		return reasonTLSAlert, true
	case errors.As(err, &alert):
		return reasonTLSLocal, true
	}
	return "", false
}

// ParseRetryAfter reads an HTTP Retry-After value, either delay-seconds
// ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT", measured from
// now). It returns 0 for an empty, malformed, negative or past value. Very
// large values are capped at one day, so that a wrong header cannot park a
// caller forever.
func ParseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	const maxRetryAfter = 24 * time.Hour
	if n, err := strconv.ParseInt(value, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// RetryAfterHeader returns the delay an HTTP answer's headers ask for:
// Retry-After (seconds or an HTTP date), or Azure's retry-after-ms and
// x-ms-retry-after-ms (milliseconds), 0 when none says. h may be nil.
func RetryAfterHeader(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	for _, k := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				return min(time.Duration(n)*time.Millisecond, 24*time.Hour)
			}
		}
	}
	return ParseRetryAfter(h.Get("Retry-After"), now)
}
