package azure

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/secretbroker/secretbroker/providers"
)

// Inner error codes of Key Vault's error answers that change the meaning of
// their HTTP status.
const (
	// errSecretDisabled: 403 for a disabled secret, not a refusal.
	errSecretDisabled = "SecretDisabled"
	// errDeletedButRecoverable: 409 for a name whose secret is soft-deleted.
	errDeletedButRecoverable = "ObjectIsDeletedButRecoverable"
)

// classify returns the code of err, a caller-safe reason ("" when the code
// says enough) and whether err may be kept as the inner error (false when
// its text could quote a secret).
func classify(err error) (providers.Code, string, bool) {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Code, pe.Reason, true
	}

	var re *azcore.ResponseError
	if errors.As(err, &re) {
		codes := errorCodes(re)
		switch {
		case codes[errSecretDisabled]:
			return providers.NotFound, "secret is disabled", true
		case codes[errDeletedButRecoverable]:
			return providers.FailedPrecondition,
				"a deleted secret of that name awaits purge; recover or purge it before writing the name again", true
		}
		c := statusCode(re.StatusCode)
		switch {
		case re.StatusCode == http.StatusUnauthorized:
			return c, "Azure Key Vault did not accept the daemon's token", true
		case re.StatusCode == http.StatusForbidden:
			return c, "Azure Key Vault refused the daemon's identity (no access to this secret)", true
		case re.StatusCode == http.StatusTooManyRequests:
			return c, "Azure Key Vault is throttling requests (service limits)", true
		case c == providers.Unavailable:
			return c, "Azure Key Vault is unavailable", true
		case c == providers.NotFound:
			return c, "", true
		}
		return c, "", true
	}

	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		if afe.RawResponse == nil {
			// No answer from the authority: it could not be reached.
			return providers.Unavailable, "Azure AD could not be reached to authenticate the daemon", true
		}
		switch c := statusCode(afe.RawResponse.StatusCode); c {
		case providers.Unavailable:
			return c, "Azure AD is unavailable", true
		case providers.ResourceExhausted:
			return c, "Azure AD is throttling token requests", true
		}
		return providers.PermissionDenied, "Azure AD refused the daemon's credential", true
	}

	// Decoding errors of a response: their text may quote the body.
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return providers.Internal, "Azure Key Vault answered with a body the provider cannot decode", false
	}

	if c, why, ok := providers.TransportCode(err); ok {
		if providers.IsTLSError(err) {
			return c, "the TLS certificate of Azure Key Vault or Azure AD is not trusted (see ca_file): " + why, true
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return c, "the vault's host name does not resolve: " + why, true
		}
		return c, "Azure Key Vault could not be reached: " + why, true
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		// The HTTP exchange failed in a way TransportCode does not name.
		return providers.Unavailable, "Azure Key Vault could not be reached", true
	}
	return providers.Unknown, "", true
}

// retryAfter returns the delay the HTTP answer in err's chain (the vault's
// or the authority's) asks for, 0 when it says nothing.
func retryAfter(err error) time.Duration {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.RawResponse != nil {
		return providers.RetryAfterHeader(re.RawResponse.Header, time.Now())
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		return providers.RetryAfterHeader(afe.RawResponse.Header, time.Now())
	}
	return 0
}

// errorCodes returns the error codes of a Key Vault error answer: the
// top-level code and every nested innererror code.
func errorCodes(re *azcore.ResponseError) map[string]bool {
	codes := map[string]bool{}
	if re.ErrorCode != "" {
		codes[re.ErrorCode] = true
	}
	if re.RawResponse == nil {
		return codes
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return codes
	}
	type inner struct {
		Code       string          `json:"code"`
		InnerError json.RawMessage `json:"innererror"`
	}
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return codes
	}
	raw := doc.Error
	for depth := 0; depth < 8 && len(raw) > 0; depth++ {
		var e inner
		if json.Unmarshal(raw, &e) != nil {
			break
		}
		if e.Code != "" {
			codes[e.Code] = true
		}
		raw = e.InnerError
	}
	return codes
}
