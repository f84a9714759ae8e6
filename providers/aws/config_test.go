package aws

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// TestConfigYAML decodes a documented example the way the daemon does
// (unknown fields rejected) and checks every key lands in its field.
func TestConfigYAML(t *testing.T) {
	const doc = `
region: eu-west-1
endpoint: https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com
sts_endpoint: https://sts.eu-west-1.amazonaws.com
profile: rpa-prod
assume_role:
  role_arn: arn:aws:iam::123456789012:role/secretbroker-reader
  external_id: ext-4711
  session_name: secretbroker-prod
name_path: rpa/
version_stage: AWSCURRENT
writable: true
force_delete: false
recovery_window_days: 7
max_attempts: 5
timeout: 10s
`
	sdkEnv(t)
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := Config{
		Region: "eu-west-1", Endpoint: "https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com",
		STSEndpoint: "https://sts.eu-west-1.amazonaws.com", Profile: "rpa-prod",
		AssumeRole: AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/secretbroker-reader", ExternalID: "ext-4711", SessionName: "secretbroker-prod"},
		NamePath:   "rpa/", VersionStage: "AWSCURRENT", Writable: true, RecoveryWindowDays: 7, MaxAttempts: 5, Timeout: 10 * time.Second,
	}
	if cfg != want {
		t.Fatalf("decoded %+v\nwant    %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, bad := range []string{"access_key_id: AKIA...\n", "secret_access_key: x\n", "RetryMaxBackoff: 1s\n"} {
		dec := yaml.NewDecoder(strings.NewReader("region: eu-west-1\n" + bad))
		dec.KnownFields(true)
		if err := dec.Decode(&Config{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	sdkEnv(t)
	const role = "arn:aws:iam::123456789012:role/secretbroker-reader"
	ok := Config{Region: "eu-west-1"}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"minimal", func(c *Config) {}, ""},
		{"everything", func(c *Config) {
			*c = Config{Region: "us-gov-west-1", Endpoint: "https://vpce-1.secretsmanager.us-gov-west-1.vpce.amazonaws.com",
				STSEndpoint: "https://sts.us-gov-west-1.amazonaws.com", Profile: "rpa",
				AssumeRole: AssumeRole{RoleARN: "arn:aws-us-gov:iam::123456789012:role/path/r", ExternalID: "ext:1/2", SessionName: "sb-prod"},
				NamePath:   "rpa/prod/", VersionStage: "AWSPENDING", Writable: true, RecoveryWindowDays: 7,
				MaxAttempts: 5, Timeout: 10 * time.Second}
		}, ""},
		{"missing region", func(c *Config) { c.Region = "" }, "region"},
		{"bad region", func(c *Config) { c.Region = "EU West 1" }, "region"},
		{"endpoint not a url", func(c *Config) { c.Endpoint = "://x" }, "endpoint"},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "secretsmanager.eu-west-1.amazonaws.com" }, "endpoint"},
		{"endpoint ftp", func(c *Config) { c.Endpoint = "ftp://host" }, "endpoint"},
		{"endpoint with user", func(c *Config) { c.Endpoint = "https://u:p@host" }, "endpoint"},
		{"endpoint with query", func(c *Config) { c.Endpoint = "https://host/?a=b" }, "endpoint"},
		{"sts endpoint bad", func(c *Config) { c.AssumeRole.RoleARN = role; c.STSEndpoint = "sts" }, "sts_endpoint"},
		{"sts endpoint without role", func(c *Config) { c.STSEndpoint = "https://sts.eu-west-1.amazonaws.com" }, "sts_endpoint"},
		{"profile with spaces", func(c *Config) { c.Profile = " rpa" }, "profile"},
		{"external id without role", func(c *Config) { c.AssumeRole.ExternalID = "abc" }, "assume_role.role_arn"},
		{"role not an arn", func(c *Config) { c.AssumeRole.RoleARN = "secretbroker-reader" }, "assume_role.role_arn"},
		{"role arn of a user", func(c *Config) { c.AssumeRole.RoleARN = "arn:aws:iam::123456789012:user/bob" }, "assume_role.role_arn"},
		{"external id too short", func(c *Config) { c.AssumeRole = AssumeRole{RoleARN: role, ExternalID: "x"} }, "assume_role.external_id"},
		{"external id too long", func(c *Config) { c.AssumeRole = AssumeRole{RoleARN: role, ExternalID: strings.Repeat("x", 1225)} }, "assume_role.external_id"},
		{"external id bad char", func(c *Config) { c.AssumeRole = AssumeRole{RoleARN: role, ExternalID: "a b"} }, "assume_role.external_id"},
		{"session name bad", func(c *Config) { c.AssumeRole = AssumeRole{RoleARN: role, SessionName: "has space"} }, "assume_role.session_name"},
		{"name path without slash", func(c *Config) { c.NamePath = "rpa" }, "name_path"},
		{"name path bad char", func(c *Config) { c.NamePath = "r p a/" }, "name_path"},
		{"version stage with space", func(c *Config) { c.VersionStage = "AWS CURRENT" }, "version_stage"},
		{"force delete with window", func(c *Config) { c.ForceDelete = true; c.RecoveryWindowDays = 7 }, "recovery_window_days"},
		{"window too short", func(c *Config) { c.RecoveryWindowDays = 6 }, "recovery_window_days"},
		{"window too long", func(c *Config) { c.RecoveryWindowDays = 31 }, "recovery_window_days"},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, "max_attempts"},
		{"too many attempts", func(c *Config) { c.MaxAttempts = 21 }, "max_attempts"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"missing profile", func(c *Config) { c.Profile = "nope" }, "profile"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			err := cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			providertest.WantConfigFields(t, err, c.field)
			var ce *providers.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError on %s", err, c.field)
			}
			if ce.Field != c.field || ce.Problem == "" || ce.Fix == "" {
				t.Fatalf("got %+v, want field %s with problem and fix", ce, c.field)
			}
			// New validates before anything else.
			if _, err := New(context.Background(), cfg); !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("New: got %v", err)
			}
		})
	}
}

// Both Config and *Config satisfy the daemon's Validator interface.
var (
	_ interface{ Validate() error } = Config{}
	_ interface{ Validate() error } = (*Config)(nil)
)

// sdkEnv points the SDK at a shared config file of this test's, holding
// the profiles rpa and rpa-prod, and clears every AWS_* variable that
// could make it read another.
func sdkEnv(t *testing.T) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte("[profile rpa]\nregion = eu-west-1\n\n[profile rpa-prod]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", file)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	unsetenv(t, "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_DEFAULTS_MODE",
		"AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_CA_BUNDLE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_STS")
}

// TestValidateEmptyBlock: "aws: {}" is refused for its region, wherever
// the environment says the daemon runs.
func TestValidateEmptyBlock(t *testing.T) {
	sdkEnv(t)
	for _, env := range []string{"", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		if env != "" {
			t.Setenv(env, "eu-west-1")
		}
		if got := providertest.ConfigFields(t, Config{}.Validate()); !slices.Equal(got, []string{"region"}) {
			t.Fatalf("%s set: fields %v, want [region]", env, got)
		}
	}
}

// TestValidateReportsEveryProblem: a block with several mistakes gets one
// error for each, in the order of the fields.
func TestValidateReportsEveryProblem(t *testing.T) {
	sdkEnv(t)
	cfg := Config{
		Region:             "Frankfurt",
		Endpoint:           "secretsmanager.eu-central-1.amazonaws.com",
		STSEndpoint:        "https://sts.eu-central-1.amazonaws.com",
		Profile:            "missing",
		AssumeRole:         AssumeRole{ExternalID: "x", SessionName: "has space"},
		NamePath:           "rpa",
		VersionStage:       "AWS CURRENT",
		ForceDelete:        true,
		RecoveryWindowDays: 7,
		MaxAttempts:        -1,
		Timeout:            -time.Second,
	}
	want := []string{"region", "endpoint", "sts_endpoint", "assume_role.role_arn", "assume_role.external_id",
		"assume_role.session_name", "name_path", "version_stage", "recovery_window_days", "max_attempts", "timeout", "profile"}
	providertest.WantConfigFields(t, cfg.Validate(), want...)
	_, err := New(context.Background(), cfg)
	providertest.WantConfigFields(t, err, want...)
}

// TestValidateMakesNoConnection: Validate loads the SDK configuration but
// contacts nothing, even where the SDK would: the defaults mode "auto"
// asks the instance metadata service, and the container credentials
// endpoint and the configured endpoint are one listener on loopback.
func TestValidateMakesNoConnection(t *testing.T) {
	sdkEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	url := "http://" + l.Addr().String()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url+"/creds")
	t.Setenv("AWS_DEFAULTS_MODE", "auto")
	cfg := Config{Region: "eu-west-1", Endpoint: url, STSEndpoint: url,
		AssumeRole: AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/secretbroker-reader"}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// A connection Validate made is waiting in the listener's backlog.
	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Fatal("Validate connected to the listener")
	}
}
