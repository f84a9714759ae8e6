package aws

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/secretbroker/secretbroker/providers"
)

// DefaultVersionStage is the staging label Get reads when neither the Ref
// nor the configuration names a version.
const DefaultVersionStage = "AWSCURRENT"

// DefaultTimeout bounds one provider call (the SDK's retries included) when
// Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// maxAttempts is the most Config.MaxAttempts may say.
const maxAttempts = 20

// Config configures one AWS Secrets Manager provider: one account (through
// the credentials the SDK finds) and one region. The daemon decodes it from
// YAML with unknown fields rejected.
//
// Credentials are never part of it. They come from the SDK's default chain
// only: the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
// environment variables, the shared config and credentials files (see
// Profile), web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, as on
// EKS), the ECS container endpoint and the EC2 instance role, optionally
// followed by AssumeRole.
type Config struct {
	// Region is the AWS region of the secrets, such as "eu-west-1".
	// Required: the provider does not take it from the environment
	// (AWS_REGION, AWS_DEFAULT_REGION, the profile), so a configuration
	// file says where its secrets live.
	Region string `yaml:"region"`

	// Endpoint overrides the Secrets Manager endpoint URL, for an interface
	// VPC endpoint ("https://vpce-0abc-xyz.secretsmanager.eu-west-1.vpce.amazonaws.com")
	// or a test server. Default: the SDK's regional endpoint.
	Endpoint string `yaml:"endpoint"`

	// STSEndpoint overrides the STS endpoint URL used for AssumeRole, for an
	// STS VPC endpoint or a test server. Default: the SDK's regional STS
	// endpoint. Only meaningful with assume_role.
	STSEndpoint string `yaml:"sts_endpoint"`

	// Profile selects a profile of the shared config and credentials files
	// (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and
	// AWS_SHARED_CREDENTIALS_FILE), such as "rpa-prod". Default: the SDK's
	// (AWS_PROFILE, else "default").
	Profile string `yaml:"profile"`

	// AssumeRole, when RoleARN is set, makes the provider assume that role
	// with the credentials found by the default chain, and read secrets with
	// the role's temporary credentials (refreshed before they expire).
	AssumeRole AssumeRole `yaml:"assume_role"`

	// NamePath is prepended verbatim to every encoded secret name, such as
	// "rpa/" (the secret for name "finance_glaccess" is then
	// "rpa/finance_glaccess"). It must end with "/" and may contain only
	// the characters of a Secrets Manager name (A-Z a-z 0-9 / _ + = . @ -).
	// Default: "" (no path).
	NamePath string `yaml:"name_path"`

	// VersionStage is the staging label Get reads when the request names no
	// version, such as "AWSPENDING". Default: "AWSCURRENT".
	VersionStage string `yaml:"version_stage"`

	// Writable allows Put and Delete (PutSecretValue, CreateSecret,
	// RestoreSecret, DeleteSecret). Default false: the provider only reads,
	// and Put and Delete fail with FailedPrecondition.
	Writable bool `yaml:"writable"`

	// ForceDelete makes Delete remove a secret at once
	// (ForceDeleteWithoutRecovery) instead of scheduling its deletion after
	// a recovery window. Default false. A scheduled secret reads as
	// NotFound either way.
	ForceDelete bool `yaml:"force_delete"`

	// RecoveryWindowDays is the recovery window of Delete, 7 to 30 days.
	// Default 0: AWS's default of 30 days. Not allowed with force_delete.
	RecoveryWindowDays int `yaml:"recovery_window_days"`

	// MaxAttempts is how many times the SDK tries a request (the first
	// attempt included) before giving up on a retryable error such as
	// throttling or a refused connection, such as 5; at most 20. Default 0:
	// the SDK's default (3, or AWS_MAX_ATTEMPTS / max_attempts of the
	// shared config). These are the SDK's own retries; the daemon's
	// protection block (protection: {max_attempts, timeout, ...} beside
	// this block) adds retries with backoff and a circuit breaker around
	// them.
	MaxAttempts int `yaml:"max_attempts"`

	// Timeout bounds each call (all the SDK's attempts and backoff included)
	// when the caller's deadline is later or absent, such as "10s". A call
	// cut short by it fails with Unavailable. Default 30s. It is the SDK
	// call's own bound; protection.timeout bounds the whole call the daemon
	// makes, its own retries included.
	Timeout time.Duration `yaml:"timeout"`

	// RetryMaxBackoff caps the SDK's delay between attempts (default: the
	// SDK's 20s). For tests, to keep retries quick; not read from YAML.
	RetryMaxBackoff time.Duration `yaml:"-"`
}

// AssumeRole configures the sts:AssumeRole step of the credential chain.
type AssumeRole struct {
	// RoleARN is the role to assume, such as
	// "arn:aws:iam::123456789012:role/secretbroker-reader". Empty: no
	// AssumeRole.
	RoleARN string `yaml:"role_arn"`

	// ExternalID is passed as sts:ExternalId when the role's trust policy
	// requires one. Default: none. It is an identifier, not a secret.
	ExternalID string `yaml:"external_id"`

	// SessionName names the role session in CloudTrail, such as
	// "secretbroker-prod". Default: the SDK's (a timestamp).
	SessionName string `yaml:"session_name"`
}

var (
	regionRE      = regexp.MustCompile(`^[a-z]{2,5}(-[a-z0-9]+)+-[0-9]+$`)
	namePathRE    = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+/$`)
	roleARNRE     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // and 2 to 1224 long
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	stageRE       = regexp.MustCompile(`^\S{1,256}$`)
)

// Validate checks c without contacting AWS and returns every problem
// (joined with errors.Join), each a *providers.ConfigError: the fields New
// checks, and the SDK configuration New loads, read the same way (shared
// config and credentials files, AWS_* environment), so that a profile
// missing from the shared files is reported here. Credentials are not
// resolved: a wrong or missing credential shows on the first call.
//
// Region is required, and not taken from AWS_REGION or a profile: one
// configuration file says where its secrets live, so a daemon started in
// another environment cannot quietly read the same names in another
// region.
func (c Config) Validate() error {
	errs := c.check()
	if err := c.checkSDKConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// check returns a *providers.ConfigError for every bad field.
func (c Config) check() []error {
	var errs []error
	bad := func(field, problem, fix string) {
		errs = append(errs, &providers.ConfigError{Field: field, Problem: problem, Fix: fix})
	}
	switch {
	case c.Region == "":
		bad("region", "is required", `set the AWS region of the secrets, such as "eu-west-1"; AWS_REGION and the profile's region are not used`)
	case !regionRE.MatchString(c.Region):
		bad("region", "is not an AWS region name", `write a region such as "eu-west-1" or "us-gov-west-1"`)
	}
	if err := checkEndpoint(c.Endpoint); err != "" {
		bad("endpoint", err, `write an absolute URL such as "https://vpce-0abc-xyz.secretsmanager.eu-west-1.vpce.amazonaws.com", or leave it out`)
	}
	if err := checkEndpoint(c.STSEndpoint); err != "" {
		bad("sts_endpoint", err, `write an absolute URL such as "https://sts.eu-west-1.amazonaws.com", or leave it out`)
	} else if c.STSEndpoint != "" && c.AssumeRole.RoleARN == "" {
		bad("sts_endpoint", "is set without assume_role.role_arn", "set assume_role.role_arn, or remove sts_endpoint")
	}
	if strings.TrimSpace(c.Profile) != c.Profile {
		bad("profile", "has leading or trailing spaces", "write the profile name alone")
	}
	ar := c.AssumeRole
	switch {
	case ar.RoleARN == "" && (ar.ExternalID != "" || ar.SessionName != ""):
		bad("assume_role.role_arn", "is required when assume_role has other fields", "set the ARN of the role to assume, or remove assume_role")
	case ar.RoleARN != "" && !roleARNRE.MatchString(ar.RoleARN):
		bad("assume_role.role_arn", "is not an IAM role ARN", `write an ARN such as "arn:aws:iam::123456789012:role/secretbroker-reader"`)
	}
	if ar.ExternalID != "" && (len(ar.ExternalID) < 2 || len(ar.ExternalID) > 1224 || !externalIDRE.MatchString(ar.ExternalID)) {
		bad("assume_role.external_id", "must be 2 to 1224 characters of A-Z a-z 0-9 _ + = , . @ : / -", "copy the external id from the role's trust policy")
	}
	if ar.SessionName != "" && !sessionNameRE.MatchString(ar.SessionName) {
		bad("assume_role.session_name", "must be 2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -", `write a name such as "secretbroker-prod"`)
	}
	if c.NamePath != "" && !namePathRE.MatchString(c.NamePath) {
		if !strings.HasSuffix(c.NamePath, "/") {
			bad("name_path", `must end with "/"`, `write a path such as "rpa/", or leave it out`)
		} else {
			bad("name_path", "may contain only A-Z a-z 0-9 / _ + = . @ -", `write a path such as "rpa/"`)
		}
	}
	if c.VersionStage != "" && !stageRE.MatchString(c.VersionStage) {
		bad("version_stage", "must be 1 to 256 characters without spaces", `write a staging label such as "AWSCURRENT", or leave it out`)
	}
	switch {
	case c.ForceDelete && c.RecoveryWindowDays != 0:
		bad("recovery_window_days", "cannot be combined with force_delete", "remove one of them")
	case c.RecoveryWindowDays != 0 && (c.RecoveryWindowDays < 7 || c.RecoveryWindowDays > 30):
		bad("recovery_window_days", "must be between 7 and 30", "write a number of days from 7 to 30, or leave it out for 30")
	}
	switch {
	case c.MaxAttempts < 0:
		bad("max_attempts", "must not be negative", "write a number of attempts such as 3, or leave it out for the SDK's default")
	case c.MaxAttempts > maxAttempts:
		bad("max_attempts", fmt.Sprintf("is more than %d", maxAttempts), fmt.Sprintf("write at most %d; each attempt can wait up to 20s of backoff", maxAttempts))
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative", `write a duration such as "10s", or leave it out for 30s`)
	}
	if c.RetryMaxBackoff < 0 {
		bad("RetryMaxBackoff", "must not be negative", "leave it zero for the SDK's default")
	}
	return errs
}

// checkSDKConfig loads the SDK configuration as New does, without
// resolving credentials and without contacting anything: the defaults mode
// is pinned to "legacy", since "auto" would ask the EC2 instance metadata
// service about the environment.
func (c Config) checkSDKConfig() error {
	if strings.TrimSpace(c.Profile) != c.Profile {
		return nil // reported by check
	}
	_, err := loadSDKConfig(context.Background(), c, config.WithDefaultsMode(awssdk.DefaultsModeLegacy))
	return sdkConfigError(err)
}

// loadSDKConfig loads the SDK's configuration for c: its region and
// profile, the shared files and the AWS_* environment.
func loadSDKConfig(ctx context.Context, c Config, more ...func(*config.LoadOptions) error) (awssdk.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(c.Region)}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	return config.LoadDefaultConfig(ctx, append(opts, more...)...)
}

// sdkConfigError turns an error of loadSDKConfig into a
// *providers.ConfigError, or returns nil.
func sdkConfigError(err error) error {
	if err == nil {
		return nil
	}
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return &providers.ConfigError{Field: "profile", Problem: "is not in the shared config or credentials file",
			Fix: "add the profile to ~/.aws/config (or AWS_CONFIG_FILE), or correct its name (AWS_PROFILE names it when profile is left out)"}
	}
	return &providers.ConfigError{Field: "profile", Problem: "the AWS SDK configuration cannot be loaded: " + err.Error(),
		Fix: "correct the shared config and credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE) and the AWS_* environment variables"}
}

// checkEndpoint returns what is wrong with an endpoint URL, or "".
func checkEndpoint(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "must be an http or https URL"
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		return "must not contain user information"
	case u.RawQuery != "" || u.Fragment != "":
		return "must not have a query or fragment"
	}
	return ""
}
