package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/providers"
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
	if err := cfg.validate(); err != nil {
		t.Fatalf("validate: %v", err)
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			err := cfg.validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
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
