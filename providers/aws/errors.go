package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretbroker/secretbroker/providers"
)

// apiCode classifies an API error code of Secrets Manager, of AWS's common
// authentication and throttling errors, or of STS (AssumeRole failures reach
// the caller through the credential chain).
func apiCode(code string) (providers.Code, bool) {
	switch code {
	case "ResourceNotFoundException":
		return providers.NotFound, true
	case "AccessDeniedException",
		"UnrecognizedClientException",
		"InvalidSignatureException",
		"IncompleteSignatureException",
		"MissingAuthenticationTokenException",
		"ExpiredTokenException",
		"InvalidClientTokenId",
		"AccessDenied",
		"SignatureDoesNotMatch",
		"ExpiredToken",
		"MissingAuthenticationToken",
		"IncompleteSignature",
		"RequestExpired",
		"RegionDisabledException":
		return providers.PermissionDenied, true
	case "DecryptionFailure",
		"EncryptionFailure",
		"InvalidRequestException",
		"PreconditionNotMetException",
		"ResourceExistsException":
		return providers.FailedPrecondition, true
	case "ThrottlingException",
		"Throttling",
		"TooManyRequestsException",
		"RequestLimitExceeded",
		// Secrets Manager's quotas: too many secrets, or versions written
		// faster than AWS removes old ones. The second passes with time.
		"LimitExceededException":
		return providers.ResourceExhausted, true
	case "InternalServiceError",
		"ServiceUnavailable",
		"ServiceUnavailableException",
		"InternalFailure":
		return providers.Unavailable, true
	case "InvalidParameterException",
		"MalformedPolicyDocumentException",
		"ValidationException",
		"ValidationError":
		return providers.InvalidArgument, true
	}
	return providers.Unknown, false
}

// classify returns the code of an error of the SDK (or of the provider).
func classify(err error) providers.Code {
	c, _ := describe(err)
	return c
}

// describe returns the code of err and a caller-safe reason for it. The
// reason names AWS's error code (an identifier such as
// "AccessDeniedException"), never AWS's message, which can name the
// secret, the account and the role.
func describe(err error) (providers.Code, string) {
	if err == nil {
		return providers.OK, ""
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Code, pe.Reason
	}
	switch {
	case errors.Is(err, context.Canceled):
		return providers.Canceled, ""
	case errors.Is(err, context.DeadlineExceeded):
		return providers.DeadlineExceeded, ""
	}
	var (
		dec *types.DecryptionFailure
		enc *types.EncryptionFailure
	)
	switch {
	case markedForDeletion(err):
		return providers.NotFound, reasonScheduled
	case errors.As(err, &dec):
		return providers.FailedPrecondition, reasonDecryption
	case errors.As(err, &enc):
		return providers.FailedPrecondition, reasonEncryption
	}
	if credentialFailure(err) {
		// The daemon could not get credentials: STS refused AssumeRole, no
		// source in the chain had any, SSO or IMDS said no. Only transport
		// trouble and throttling are worth retrying; the rest is an
		// identity problem, never a missing secret.
		if c, r, ok := transient(err); ok {
			return c, "getting AWS credentials failed: " + r
		}
		return providers.PermissionDenied, "AWS refused the daemon's credentials (credential chain or AssumeRole)" + codeSuffix(err)
	}
	// The typed errors of the Secrets Manager model first, then any API
	// error by its code.
	var (
		notFound *types.ResourceNotFoundException
		internal *types.InternalServiceError
		api      smithy.APIError
	)
	switch {
	case errors.As(err, &notFound):
		return providers.NotFound, "no such secret in AWS Secrets Manager"
	case errors.As(err, &internal):
		return providers.Unavailable, "AWS Secrets Manager is unavailable" + codeSuffix(err)
	case errors.As(err, &api):
		if c, ok := apiCode(api.ErrorCode()); ok {
			return c, apiReason(c) + codeSuffix(err)
		}
	}
	if c, r, ok := transient(err); ok {
		return c, r
	}
	// An HTTP status without a known error code. 404 is not NotFound: only
	// Secrets Manager's own error code says a secret is missing.
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		if status := resp.HTTPStatusCode(); status == http.StatusUnauthorized || status == http.StatusForbidden {
			return providers.PermissionDenied, fmt.Sprintf("AWS Secrets Manager refused the request (HTTP %d)", status)
		}
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return providers.Internal, "AWS Secrets Manager answered something the provider cannot decode"
	}
	return providers.Unknown, "the AWS Secrets Manager request failed" + codeSuffix(err)
}

// apiReason is the reason of an API error code of class c.
func apiReason(c providers.Code) string {
	switch c {
	case providers.NotFound:
		return "no such secret in AWS Secrets Manager"
	case providers.PermissionDenied:
		return "AWS Secrets Manager refused the daemon's identity (IAM policy or credentials)"
	case providers.FailedPrecondition:
		return "AWS Secrets Manager cannot do this in the secret's current state"
	case providers.ResourceExhausted:
		return "AWS Secrets Manager is throttling requests or a quota is exceeded"
	case providers.Unavailable:
		return "AWS Secrets Manager is unavailable"
	case providers.InvalidArgument:
		return "AWS Secrets Manager rejected the request as invalid"
	}
	return "the AWS Secrets Manager request failed"
}

// errorCodeRE is what an AWS error code looks like; anything else is not
// repeated in a reason.
var errorCodeRE = regexp.MustCompile(`^[A-Za-z0-9.]{1,64}$`)

// codeSuffix returns " (<AWS error code>)" for an API error in err's chain,
// or "".
func codeSuffix(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) && errorCodeRE.MatchString(api.ErrorCode()) {
		return " (" + api.ErrorCode() + ")"
	}
	return ""
}

// credentialFailure reports whether err arose while resolving credentials:
// inside the Secrets Manager operation there is an operation of another
// service (STS AssumeRole or AssumeRoleWithWebIdentity, SSO, the EC2
// instance metadata service). The SDK has no typed error for "get identity"
// failures, but it always wraps such calls in their own OperationError.
func credentialFailure(err error) bool {
	var op *smithy.OperationError
	for e := err; errors.As(e, &op); e = op.Err {
		if op.ServiceID != secretsmanager.ServiceID {
			return true
		}
	}
	return false
}

// transient classifies errors worth retrying later, with a reason:
// throttling (ResourceExhausted), and no usable answer from AWS
// (Unavailable): transport failures, the SDK's response timeout and retry
// quota, HTTP 5xx, and internal-error codes.
func transient(err error) (providers.Code, string, bool) {
	var (
		quota   ratelimit.QuotaExceededError
		timeout *awshttp.ResponseTimeoutError
		resp    *smithyhttp.ResponseError
		api     smithy.APIError
	)
	if errors.As(err, &api) {
		if c, ok := apiCode(api.ErrorCode()); ok && providers.Retryable(c) {
			return c, apiReason(c) + codeSuffix(err), true
		}
	}
	if errors.As(err, &resp) {
		switch status := resp.HTTPStatusCode(); {
		case status == http.StatusTooManyRequests:
			return providers.ResourceExhausted, "AWS is throttling requests (HTTP 429)", true
		case status >= 500:
			return providers.Unavailable, fmt.Sprintf("AWS is unavailable (HTTP %d)", status), true
		}
	}
	if c, why, ok := providers.TransportCode(err); ok {
		r := "AWS is unreachable: " + why
		if providers.IsTLSError(err) {
			r += " (check endpoint and the system's CA certificates)"
		}
		return c, r, true
	}
	switch {
	case errors.As(err, &timeout):
		return providers.Unavailable, "AWS did not answer in time", true
	case errors.As(err, &quota):
		return providers.Unavailable, "AWS requests keep failing (the SDK's retry quota is spent)", true
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return providers.Unavailable, "AWS could not be reached", true
	}
	return providers.Unknown, "", false
}

// retryAfter returns the delay the HTTP answer in err's chain asks for in
// its Retry-After header, 0 when it says nothing.
func retryAfter(err error) time.Duration {
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &resp) || resp.Response == nil || resp.Response.Response == nil {
		return 0
	}
	return providers.RetryAfterHeader(resp.Response.Header, time.Now())
}

// markedForDeletion reports whether an InvalidRequestException means that
// the secret is scheduled for deletion. AWS has no error code of its own for
// that state: it answers InvalidRequestException, which also covers other
// states ("secret is disabled"-like conditions of replication and rotation),
// and says which one only in its message: "You can't perform this operation
// on the secret because it was marked for deletion." (GetSecretValue,
// PutSecretValue, DeleteSecret) and "You can't create this secret because a
// secret with this name is already scheduled for deletion." (CreateSecret).
// This is the only place the provider reads an error message.
func markedForDeletion(err error) bool {
	var inv *types.InvalidRequestException
	if !errors.As(err, &inv) {
		return false
	}
	m := strings.ToLower(inv.ErrorMessage())
	return strings.Contains(m, "marked for deletion") || strings.Contains(m, "scheduled for deletion")
}

// isNotFound reports a ResourceNotFoundException.
func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// isExists reports a ResourceExistsException.
func isExists(err error) bool {
	var ex *types.ResourceExistsException
	return errors.As(err, &ex)
}

// Caller-safe reasons of the errors that need more words than a code.
const (
	reasonScheduled  = "secret is scheduled for deletion"
	reasonDecryption = "AWS could not decrypt the secret with its KMS key (check the key policy and grants, and that the key is enabled, for the daemon's identity)"
	reasonEncryption = "AWS could not encrypt the secret with its KMS key (check the key policy and grants, and that the key is enabled, for the daemon's identity)"
	reasonClosed     = "provider is closed"
)

// fail turns an error of an SDK call made with ctx into the provider's
// error: the caller's own context errors stay what they are (the SDK does
// not always wrap them), everything else becomes a *providers.Error with a
// caller-safe reason and, for throttling, AWS's Retry-After. what says
// which call failed, for the inner error (logs only).
func fail(ctx context.Context, what string, err error) error {
	inner := fmt.Errorf("aws: %s: %w", what, err)
	var pe *providers.Error
	if errors.As(err, &pe) {
		return inner
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return inner
		}
		return fmt.Errorf("aws: %s: %w: %w", what, cerr, err)
	}
	code, reason := describe(err)
	e := providers.Errorf(code, inner, "%s", reason)
	if providers.Retryable(code) {
		e.RetryAfter = retryAfter(err)
	}
	return e
}
