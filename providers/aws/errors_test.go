package aws

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretbroker/secretbroker/providers"
)

// op wraps err the way the SDK returns it from an operation.
func op(err error) error {
	return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue", Err: err}
}

// creds wraps err the way the SDK returns a failure of the credential
// chain: a call to another service inside the Secrets Manager operation.
func creds(service string, err error) error {
	return op(fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w",
		&smithy.OperationError{ServiceID: service, OperationName: "Call", Err: err}))
}

func respErr(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestClassify(t *testing.T) {
	msg := func(s string) *string { return &s }
	cases := []struct {
		name string
		err  error
		want providers.Code
	}{
		{"nil", nil, providers.OK},
		{"not found", op(respErr(400, &types.ResourceNotFoundException{Message: msg("x")})), providers.NotFound},
		{"decryption", op(respErr(400, &types.DecryptionFailure{})), providers.FailedPrecondition},
		{"internal service error", op(&retry.MaxAttemptsError{Attempt: 3, Err: respErr(500, &types.InternalServiceError{})}), providers.Unavailable},
		{"invalid parameter", op(&types.InvalidParameterException{}), providers.InvalidArgument},
		{"invalid request", op(&types.InvalidRequestException{Message: msg("replica")}), providers.FailedPrecondition},
		{"access denied", op(respErr(400, &smithy.GenericAPIError{Code: "AccessDeniedException"})), providers.PermissionDenied},
		{"sts access denied via credentials", creds("STS", respErr(403, &smithy.GenericAPIError{Code: "AccessDenied"})), providers.PermissionDenied},
		{"sts throttled", creds("STS", respErr(400, &smithy.GenericAPIError{Code: "Throttling"})), providers.ResourceExhausted},
		{"sts unreachable", creds("STS", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), providers.Unavailable},
		{"imds 404 is not a missing secret", creds("ec2imds", respErr(404, errors.New("not found"))), providers.PermissionDenied},
		{"sso resource not found is not a missing secret", creds("SSO", respErr(404, &smithy.GenericAPIError{Code: "ResourceNotFoundException"})), providers.PermissionDenied},
		{"credential chain canceled", creds("STS", &smithyhttp.RequestSendError{Err: context.Canceled}), providers.Canceled},
		{"unrecognized client", op(&smithy.GenericAPIError{Code: "UnrecognizedClientException"}), providers.PermissionDenied},
		{"invalid signature", op(&smithy.GenericAPIError{Code: "InvalidSignatureException"}), providers.PermissionDenied},
		{"expired token", op(&smithy.GenericAPIError{Code: "ExpiredTokenException"}), providers.PermissionDenied},
		{"throttling", op(&retry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: "ThrottlingException"}}), providers.ResourceExhausted},
		{"too many requests", op(&smithy.GenericAPIError{Code: "TooManyRequestsException"}), providers.ResourceExhausted},
		{"limit exceeded", op(&smithy.GenericAPIError{Code: "LimitExceededException"}), providers.ResourceExhausted},
		{"quota exceeded", op(errors.Join(&smithy.GenericAPIError{Code: "Whatever"}, fmt.Errorf("failed to get rate limit token, %w",
			ratelimit.QuotaExceededError{Available: 0, Requested: 5}))), providers.Unavailable},
		{"connection refused", op(&smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}}),
			providers.Unavailable},
		{"plain net error", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, providers.Unavailable},
		{"response timeout", op(&awshttp.ResponseTimeoutError{}), providers.Unavailable},
		{"unknown 502", op(respErr(502, &smithy.GenericAPIError{Code: "BadGateway"})), providers.Unavailable},
		{"unknown 403", op(respErr(403, &smithy.GenericAPIError{Code: "Forbidden"})), providers.PermissionDenied},
		{"unknown 400", op(respErr(400, &smithy.GenericAPIError{Code: "Novel"})), providers.Unknown},
		{"unknown 404", op(respErr(404, errors.New("?"))), providers.Unknown},
		{"unknown 429", op(respErr(429, errors.New("?"))), providers.ResourceExhausted},
		{"untrusted endpoint", op(&smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "https://x", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}}),
			providers.Unavailable},
		{"deserialization", op(&smithy.DeserializationError{Err: errors.New("bad json")}), providers.Internal},
		{"canceled", op(&smithyhttp.RequestSendError{Err: context.Canceled}), providers.Canceled},
		{"deadline", op(&smithyhttp.RequestSendError{Err: context.DeadlineExceeded}), providers.DeadlineExceeded},
		{"provider error", fmt.Errorf("x: %w", providers.Errorf(providers.NotFound, op(&types.InvalidRequestException{}), reasonScheduled)), providers.NotFound},
		{"anything else", errors.New("?"), providers.Unknown},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s: classify = %v, want %v", c.name, got, c.want)
		}
		if c.err == nil {
			continue
		}
		// What the provider returns carries the same code for CodeOf, and
		// a reason unless it is the caller's own context error.
		err := fail(context.Background(), "test", c.err)
		if got := providers.CodeOf(err); got != c.want {
			t.Errorf("%s: CodeOf(fail) = %v, want %v", c.name, got, c.want)
		}
		if r := providers.ReasonOf(err); r == "" && c.want != providers.Canceled && c.want != providers.DeadlineExceeded {
			t.Errorf("%s: no reason", c.name)
		}
	}
}

// TestFail checks the errors whose code needs more words than a code.
func TestFail(t *testing.T) {
	msg := func(s string) *string { return &s }
	cases := []struct {
		name   string
		err    error
		code   providers.Code
		reason string
	}{
		{"marked for deletion", op(&types.InvalidRequestException{Message: msg("You can't perform this operation on the secret because it was marked for deletion.")}),
			providers.NotFound, reasonScheduled},
		{"create while scheduled", op(&types.InvalidRequestException{Message: msg("You can't create this secret because a secret with this name is already scheduled for deletion.")}),
			providers.NotFound, reasonScheduled},
		{"other invalid request", op(&types.InvalidRequestException{Message: msg("You can't perform this operation on a replica.")}),
			providers.FailedPrecondition, "AWS Secrets Manager cannot do this in the secret's current state (InvalidRequestException)"},
		{"decryption", op(&types.DecryptionFailure{Message: msg("kms says no")}), providers.FailedPrecondition, reasonDecryption},
		{"encryption", op(&types.EncryptionFailure{}), providers.FailedPrecondition, reasonEncryption},
		{"not found", op(&types.ResourceNotFoundException{}), providers.NotFound, "no such secret in AWS Secrets Manager"},
	}
	for _, c := range cases {
		err := fail(context.Background(), "test", c.err)
		if got := providers.CodeOf(err); got != c.code {
			t.Errorf("%s: code %v, want %v", c.name, got, c.code)
		}
		if got := providers.ReasonOf(err); got != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got, c.reason)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: the error does not wrap the SDK error", c.name)
		}
	}
	// The caller's own cancellation stays a context error, whatever the
	// SDK wrapped it in.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := fail(ctx, "test", op(errors.New("get identity: canceled")))
	if providers.CodeOf(err) != providers.Canceled {
		t.Errorf("caller's cancellation: %v", err)
	}
}
