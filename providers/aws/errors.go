package aws

import (
	"errors"
	"net"
	"net/http"
	"strings"

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
		"LimitExceededException",
		"PreconditionNotMetException",
		"ResourceExistsException":
		return providers.FailedPrecondition, true
	case "InternalServiceError",
		"ThrottlingException",
		"Throttling",
		"TooManyRequestsException",
		"RequestLimitExceeded",
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

// classify is Provider.Code.
func classify(err error) providers.Code {
	if c, ok := providers.CommonCode(err); ok {
		return c
	}
	if credentialFailure(err) {
		// The daemon could not get credentials: STS refused AssumeRole, no
		// source in the chain had any, SSO or IMDS said no. Only transport
		// trouble and throttling are worth retrying; the rest is an
		// identity problem, never a missing secret.
		if transient(err) {
			return providers.Unavailable
		}
		return providers.PermissionDenied
	}
	// The typed errors of the Secrets Manager model first, then any API
	// error by its code.
	var (
		notFound *types.ResourceNotFoundException
		decrypt  *types.DecryptionFailure
		internal *types.InternalServiceError
		api      smithy.APIError
	)
	switch {
	case errors.As(err, &notFound):
		return providers.NotFound
	case errors.As(err, &decrypt):
		return providers.FailedPrecondition
	case errors.As(err, &internal):
		return providers.Unavailable
	case errors.As(err, &api):
		if c, ok := apiCode(api.ErrorCode()); ok {
			return c
		}
	}
	if transient(err) {
		return providers.Unavailable
	}
	// An HTTP status without a known error code. 404 is not NotFound: only
	// Secrets Manager's own error code says a secret is missing.
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		if status := resp.HTTPStatusCode(); status == http.StatusUnauthorized || status == http.StatusForbidden {
			return providers.PermissionDenied
		}
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return providers.Internal
	}
	return providers.Unknown
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

// transient reports errors worth retrying later: no usable answer from AWS
// (connection failures, timeouts, the SDK's retry quota), HTTP 5xx and 429,
// and throttling or internal-error codes.
func transient(err error) bool {
	var (
		quota   ratelimit.QuotaExceededError
		send    *smithyhttp.RequestSendError
		timeout *awshttp.ResponseTimeoutError
		netErr  net.Error
		resp    *smithyhttp.ResponseError
		api     smithy.APIError
	)
	switch {
	case errors.As(err, &quota), errors.As(err, &send), errors.As(err, &timeout), errors.As(err, &netErr):
		return true
	case errors.As(err, &resp) && (resp.HTTPStatusCode() >= 500 || resp.HTTPStatusCode() == http.StatusTooManyRequests):
		return true
	case errors.As(err, &api):
		c, ok := apiCode(api.ErrorCode())
		return ok && c == providers.Unavailable
	}
	return false
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
	reasonScheduled   = "secret is scheduled for deletion"
	reasonDecryption  = "AWS could not decrypt the secret with its KMS key (check the key policy and grants, and that the key is enabled, for the daemon's identity)"
	reasonEncryption  = "AWS could not encrypt the secret with its KMS key (check the key policy and grants, and that the key is enabled, for the daemon's identity)"
	reasonNotWritable = "provider is not writable (set writable: true)"
	reasonClosed      = "provider is closed"
)

// explain wraps the errors whose code needs a reason: a secret scheduled for
// deletion (NotFound), and KMS failures (FailedPrecondition). Other errors
// are returned unchanged.
func explain(err error) error {
	var (
		dec *types.DecryptionFailure
		enc *types.EncryptionFailure
	)
	switch {
	case markedForDeletion(err):
		return providers.Errorf(providers.NotFound, err, reasonScheduled)
	case errors.As(err, &dec):
		return providers.Errorf(providers.FailedPrecondition, err, reasonDecryption)
	case errors.As(err, &enc):
		return providers.Errorf(providers.FailedPrecondition, err, reasonEncryption)
	}
	return err
}
