// Package aws is the AWS Secrets Manager provider: it reads (and, when
// configured writable, stores and deletes) RPA credentials kept as Secrets
// Manager secrets, with the AWS SDK for Go v2.
//
// # Names
//
// The secret read for a Ref is Config.NamePath followed verbatim by
// Ref.Name, which the broker has already encoded; Ref.Location is unused.
//
// # Values
//
// A SecretString holding a JSON object gives one attribute per member (the
// usual {"username": ..., "password": ...} shape of the AWS console):
// string members as they are, numbers, booleans, arrays and nested objects
// as their compact JSON text, null members left out. Any other SecretString
// is the password. A SecretBinary that is valid UTF-8 holding a JSON object
// is read the same way; any other SecretBinary is the password, byte for
// byte. Secret.Version is the VersionId read and Secret.UpdatedAt its
// CreatedDate.
//
// Put writes a SecretString JSON object of the attributes (see
// encodeAttributes for the one binary case) as the new AWSCURRENT version.
// Put and Delete need writable: true; otherwise they fail with
// FailedPrecondition without a request.
//
// # Rotation
//
// A Get of the AWSCURRENT stage (the default) returns a Secret with
// Rotating set when the version read also carries AWSPENDING, or does not
// carry AWSCURRENT: AWS's rotation has just moved AWSCURRENT to the new
// version and not yet finished (finishSecret), or the stages moved under
// the read. GetSecretValue does not show a rotation that is still in its
// createSecret, setSecret or testSecret steps (AWSPENDING is then on
// another version); seeing that would cost a DescribeSecret per read,
// which the provider does not make.
//
// # Health
//
// Check calls GetSecretValue for the secret <name_path>secretbroker-health-check
// at the version id 00000000-0000-0000-0000-000000000000, which no version
// has: AWS authenticates and authorises the call first, then answers
// ResourceNotFoundException, which is healthy. No value is read. The
// daemon's identity needs secretsmanager:GetSecretValue on that name (a
// policy on <name_path>* covers it).
//
// # Errors
//
// Every error is classified where it arises, by the SDK's typed errors and
// API error codes (never error text): ResourceNotFoundException is
// NotFound; AccessDeniedException and the authentication failures
// (UnrecognizedClientException, InvalidSignatureException,
// ExpiredTokenException, STS's AccessDenied...) are PermissionDenied;
// throttling (ThrottlingException, TooManyRequestsException, HTTP 429) and
// LimitExceededException are ResourceExhausted, with the Retry-After of
// the answer when it has one; InternalServiceError, HTTP 5xx and transport
// failures (providers.TransportCode), after the SDK's retries, are
// Unavailable; DecryptionFailure is FailedPrecondition with a reason
// pointing at the KMS key policy; a secret scheduled for deletion is
// NotFound with the reason "secret is scheduled for deletion". Reasons name
// AWS's error code, never its message.
package aws

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/secretbroker/secretbroker/providers"
)

// secretsAPI is the part of the Secrets Manager client the provider uses;
// *secretsmanager.Client is the implementation outside tests.
type secretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	RestoreSecret(context.Context, *secretsmanager.RestoreSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
	DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
}

// Provider reads secrets from AWS Secrets Manager in one account and
// region. It implements providers.Provider (Writable, Put and Delete only
// with Config.Writable). It is safe for concurrent use.
type Provider struct {
	api         secretsAPI
	namePath    string
	stage       string
	writable    bool
	forceDelete bool
	recovery    int64
	timeout     time.Duration
	closed      atomic.Bool
}

var _ providers.Provider = (*Provider)(nil)

// kind is the provider kind named in NotWritable errors.
const kind = "aws"

// The secret and version Check asks for. No version has the nil UUID as its
// id (the SDK makes version ids from random UUIDs, and a writer would have
// to choose this one), so the answer is ResourceNotFoundException whether
// or not a secret of that name exists.
const (
	healthCheckName    = "secretbroker-health-check"
	healthCheckVersion = "00000000-0000-0000-0000-000000000000"
)

// The staging labels of AWS's rotation.
const (
	stageCurrent = "AWSCURRENT"
	stagePending = "AWSPENDING"
)

// New validates cfg (Config.Validate, every problem joined) and returns a
// provider. Validation errors are *providers.ConfigError. New loads the SDK's configuration (shared files,
// environment) but does not contact AWS: credentials are resolved, and
// refreshed, on use.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := loadSDKConfig(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("aws: loading the SDK configuration: %w", ctx.Err())
		}
		// Validate loaded the same configuration: the files or the
		// environment changed since.
		return nil, sdkConfigError(err)
	}
	retryOpts := func(attempts *int, retryer *awssdk.Retryer) {
		if cfg.MaxAttempts > 0 {
			*attempts = cfg.MaxAttempts
		}
		if cfg.RetryMaxBackoff > 0 {
			*retryer = retry.AddWithMaxBackoffDelay(*retryer, cfg.RetryMaxBackoff)
		}
	}
	if cfg.AssumeRole.RoleARN != "" {
		stsClient := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
			if cfg.STSEndpoint != "" {
				o.BaseEndpoint = awssdk.String(cfg.STSEndpoint)
			}
			retryOpts(&o.RetryMaxAttempts, &o.Retryer)
		})
		ar := cfg.AssumeRole
		awsCfg.Credentials = awssdk.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, ar.RoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				if ar.ExternalID != "" {
					o.ExternalID = awssdk.String(ar.ExternalID)
				}
				if ar.SessionName != "" {
					o.RoleSessionName = ar.SessionName
				}
			}))
	}
	client := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = awssdk.String(cfg.Endpoint)
		}
		retryOpts(&o.RetryMaxAttempts, &o.Retryer)
	})
	return newProvider(client, cfg), nil
}

// newProvider builds a provider over api from a validated cfg.
func newProvider(api secretsAPI, cfg Config) *Provider {
	p := &Provider{
		api:         api,
		namePath:    cfg.NamePath,
		stage:       cfg.VersionStage,
		writable:    cfg.Writable,
		forceDelete: cfg.ForceDelete,
		recovery:    int64(cfg.RecoveryWindowDays),
		timeout:     cfg.Timeout,
	}
	if p.stage == "" {
		p.stage = DefaultVersionStage
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	return p
}

// Writable reports whether Put and Delete are allowed (Config.Writable).
func (p *Provider) Writable() bool { return p.writable }

// secretID returns the Secrets Manager name for ref, or an InvalidArgument
// error.
func (p *Provider) secretID(ref providers.Ref) (string, error) {
	if ref.Name == "" {
		return "", providers.Errorf(providers.InvalidArgument, nil, "secret name is empty")
	}
	if ref.Location != "" {
		return "", providers.Errorf(providers.InvalidArgument, nil, "AWS Secrets Manager has no locations; the locker's prefix belongs in the name")
	}
	id := p.namePath + ref.Name
	if len(id) > 512 {
		return "", providers.Errorf(providers.InvalidArgument, nil, "secret name is longer than AWS's 512 characters")
	}
	return id, nil
}

// call runs fn with the caller's context bounded by the provider's timeout.
// When the timeout (not the caller) ends the call, the error is Unavailable.
func (p *Provider) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if p.closed.Load() {
		return providers.Errorf(providers.FailedPrecondition, nil, reasonClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		return providers.Errorf(providers.Unavailable, err, "AWS Secrets Manager did not answer within %s", p.timeout)
	}
	return err
}

// Get returns the secret at ref. ref.Version selects the version: "" reads
// the configured stage (default AWSCURRENT); a UUID, or "id:X", is a
// VersionId; anything else, or "stage:X", is a staging label such as
// AWSPREVIOUS.
func (p *Provider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	id, err := p.secretID(ref)
	if err != nil {
		return nil, err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: awssdk.String(id)}
	vid, stage := versionSelector(ref.Version, p.stage)
	switch {
	case vid != "":
		in.VersionId = awssdk.String(vid)
	case stage != "":
		in.VersionStage = awssdk.String(stage)
	default:
		return nil, providers.Errorf(providers.InvalidArgument, nil, "version selector is empty")
	}
	var out *secretsmanager.GetSecretValueOutput
	err = p.call(ctx, func(ctx context.Context) error {
		var err error
		out, err = p.api.GetSecretValue(ctx, in)
		return err
	})
	if err != nil {
		return nil, fail(ctx, fmt.Sprintf("reading secret %q", id), err)
	}
	s := &providers.Secret{Version: awssdk.ToString(out.VersionId)}
	if vid == "" && stage == stageCurrent {
		s.Rotating = rotating(out.VersionStages)
	}
	switch {
	case out.SecretString != nil:
		s.Attributes = attributesFromString(*out.SecretString)
	case out.SecretBinary != nil:
		s.Attributes = attributesFromBinary(out.SecretBinary)
	default:
		return nil, providers.Errorf(providers.Internal, nil, "AWS returned a secret version with neither SecretString nor SecretBinary")
	}
	if out.CreatedDate != nil {
		s.UpdatedAt = *out.CreatedDate
	}
	return s, nil
}

// Put stores s as the new AWSCURRENT version of the secret at ref: it calls
// PutSecretValue, and CreateSecret when the secret does not exist yet, or
// RestoreSecret first when it is scheduled for deletion. ref.Version must
// be empty. The value is a SecretString JSON object of the attributes; a
// lone password that is not valid UTF-8 is stored as a raw SecretBinary,
// and other non-UTF-8 values are refused with InvalidArgument.
func (p *Provider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	if !p.writable {
		return providers.NotWritable(kind)
	}
	id, err := p.secretID(ref)
	if err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "Put writes a new current version; the version must be empty")
	}
	if s == nil {
		return providers.Errorf(providers.InvalidArgument, nil, "secret is nil")
	}
	str, bin, err := encodeAttributes(s.Attributes)
	if err != nil {
		return err
	}
	err = p.call(ctx, func(ctx context.Context) error {
		put := func() error {
			_, err := p.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: awssdk.String(id), SecretString: str, SecretBinary: bin,
			})
			return err
		}
		err := put()
		switch {
		case err == nil:
			return nil
		case isNotFound(err):
			_, err = p.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: awssdk.String(id), SecretString: str, SecretBinary: bin,
			})
			if isExists(err) { // created meanwhile by someone else
				err = put()
			}
			if !markedForDeletion(err) {
				return err
			}
			fallthrough // a deleted secret of that name is in its recovery window
		case markedForDeletion(err):
			if _, err := p.api.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: awssdk.String(id)}); err != nil {
				return err
			}
			return put()
		}
		return err
	})
	if err != nil {
		return fail(ctx, fmt.Sprintf("writing secret %q", id), err)
	}
	return nil
}

// Delete deletes the secret at ref: after the configured recovery window
// (default 30 days), or at once with force_delete. Either way the secret
// reads as NotFound from then on; deleting it again is NotFound too.
func (p *Provider) Delete(ctx context.Context, ref providers.Ref) error {
	if !p.writable {
		return providers.NotWritable(kind)
	}
	id, err := p.secretID(ref)
	if err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "Delete removes the whole secret; the version must be empty")
	}
	in := &secretsmanager.DeleteSecretInput{SecretId: awssdk.String(id)}
	switch {
	case p.forceDelete:
		in.ForceDeleteWithoutRecovery = awssdk.Bool(true)
	case p.recovery > 0:
		in.RecoveryWindowInDays = awssdk.Int64(p.recovery)
	}
	err = p.call(ctx, func(ctx context.Context) error {
		_, err := p.api.DeleteSecret(ctx, in)
		return err
	})
	if err != nil {
		return fail(ctx, fmt.Sprintf("deleting secret %q", id), err)
	}
	return nil
}

// Check reports whether AWS accepts the provider's identity for its
// secrets: one GetSecretValue of a version that does not exist (see the
// package documentation), healthy when AWS answers ResourceNotFoundException.
func (p *Provider) Check(ctx context.Context) error {
	id := p.namePath + healthCheckName
	err := p.call(ctx, func(ctx context.Context) error {
		_, err := p.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
			SecretId: awssdk.String(id), VersionId: awssdk.String(healthCheckVersion),
		})
		return err
	})
	if err == nil || classify(err) == providers.NotFound {
		return nil
	}
	return fail(ctx, "health check", err)
}

// rotating reports whether the stages of a version read as AWSCURRENT show
// a rotation under way: AWSPENDING on it too, or AWSCURRENT missing. No
// stages (an answer without the member) says nothing.
func rotating(stages []string) bool {
	if len(stages) == 0 {
		return false
	}
	current, pending := false, false
	for _, st := range stages {
		switch st {
		case stageCurrent:
			current = true
		case stagePending:
			pending = true
		}
	}
	return pending || !current
}

// Close makes later calls fail with FailedPrecondition. Calls in flight
// finish. It always returns nil.
func (p *Provider) Close() error {
	p.closed.Store(true)
	return nil
}
