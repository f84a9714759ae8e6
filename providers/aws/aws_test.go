package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/aws/awstest"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, _ providers.Provider, err error, want providers.Code) {
	t.Helper()
	providertest.WantCode(t, err, want)
}

func TestGetValueShapes(t *testing.T) {
	srv := newServer(t)
	p := mustNew(t, testConfig(srv))
	created := time.Date(2025, 11, 3, 9, 30, 15, 250e6, time.UTC)
	binary := []byte{0xff, 0xfe, 0x00, 'p', 0x80, '{'}
	cases := []struct {
		name string
		val  awstest.Value
		want map[string]string
	}{
		{"json object", awstest.Value{String: `{"username":"svc-bot","password":"p4ss","domain":"ACME"}`},
			map[string]string{"username": "svc-bot", "password": "p4ss", "domain": "ACME"}},
		{"json with spaces and escapes", awstest.Value{String: " \n{ \"password\" : \"a\\\"b\\u00e9\\n\" }\t"},
			map[string]string{"password": "a\"bé\n"}},
		{"non-string members", awstest.Value{String: `{"password":"x","port":5432,"ratio":1.50,"enabled":true,"tags":["a","b"],"opts":{"k": "v"},"gone":null}`},
			map[string]string{"password": "x", "port": "5432", "ratio": "1.50", "enabled": "true", "tags": `["a","b"]`, "opts": `{"k":"v"}`}},
		{"plain string", awstest.Value{String: "just-a-password"}, map[string]string{"password": "just-a-password"}},
		{"empty string", awstest.Value{String: ""}, map[string]string{"password": ""}},
		{"broken json is a password", awstest.Value{String: `{"password": "unterminated`}, map[string]string{"password": `{"password": "unterminated`}},
		{"json array is a password", awstest.Value{String: `["a","b"]`}, map[string]string{"password": `["a","b"]`}},
		{"json string is a password", awstest.Value{String: `"quoted"`}, map[string]string{"password": `"quoted"`}},
		{"trailing data is a password", awstest.Value{String: `{"a":"b"} x`}, map[string]string{"password": `{"a":"b"} x`}},
		{"binary bytes", awstest.Value{Binary: binary}, map[string]string{"password": string(binary)}},
		{"binary json object", awstest.Value{Binary: []byte(`{"username":"u","password":"from-binary"}`)},
			map[string]string{"username": "u", "password": "from-binary"}},
		{"binary utf-8 text", awstest.Value{Binary: []byte("plain text")}, map[string]string{"password": "plain text"}},
		{"binary invalid utf-8 that looks like json", awstest.Value{Binary: []byte("{\"password\":\"\xff\"}")},
			map[string]string{"password": "{\"password\":\"\xff\"}"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("shape_%d", i)
			c.val.Created = created
			vid := srv.SeedValue(name, c.val)
			got, err := p.Get(ctxT(t), providers.Ref{Name: name})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if len(got.Attributes) != len(c.want) {
				t.Errorf("got keys %v, want %d attributes", got, len(c.want))
			}
			for k, v := range c.want {
				if g, ok := got.Attributes[k]; !ok || g != v {
					t.Errorf("attribute %q: got %q (present %v), want %q", k, g, ok, v)
				}
			}
			if got.Version != vid {
				t.Errorf("Version %q, want %q", got.Version, vid)
			}
			if !got.UpdatedAt.Equal(created) {
				t.Errorf("UpdatedAt %v, want %v", got.UpdatedAt, created)
			}
		})
	}
}

func TestNamePath(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(srv)
	cfg.NamePath = "rpa/prod/"
	p := mustNew(t, cfg)
	srv.Seed("rpa/prod/finance_glaccess", `{"password":"in-path"}`)
	srv.Seed("finance_glaccess", `{"password":"outside"}`)
	got, err := p.Get(ctxT(t), providers.Ref{Name: "finance_glaccess"})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Attributes["password"] != "in-path" {
		t.Fatalf("read the wrong secret (%d bytes)", len(got.Attributes["password"]))
	}
	calls := srv.Calls()
	if last := calls[len(calls)-1]; last.Operation != "GetSecretValue" || last.SecretID != "rpa/prod/finance_glaccess" {
		t.Fatalf("last call %+v", last)
	}
	// The name is used verbatim: not re-encoded, not trimmed.
	_, err = p.Get(ctxT(t), providers.Ref{Name: "/finance_glaccess"})
	wantCode(t, p, err, providers.NotFound)

	_, err = p.Get(ctxT(t), providers.Ref{Name: ""})
	wantCode(t, p, err, providers.InvalidArgument)
	_, err = p.Get(ctxT(t), providers.Ref{Location: "Safe1", Name: "finance_glaccess"})
	wantCode(t, p, err, providers.InvalidArgument)
	_, err = p.Get(ctxT(t), providers.Ref{Name: strings.Repeat("a", 510)})
	wantCode(t, p, err, providers.InvalidArgument)
}

func TestVersions(t *testing.T) {
	srv := newServer(t)
	const name = "versioned"
	v1 := srv.Seed(name, `{"password":"one"}`)
	v2 := srv.Seed(name, `{"password":"two"}`) // v1 becomes AWSPREVIOUS
	srv.SeedValue(name, awstest.Value{String: `{"password":"pending"}`, Stages: []string{"AWSPENDING"}})
	custom := srv.SeedValue(name, awstest.Value{String: `{"password":"custom-id"}`, VersionID: "my-own-token-that-is-not-a-uuid-0001", Stages: []string{"LABEL"}})

	p := mustNew(t, testConfig(srv))
	cfgPending := testConfig(srv)
	cfgPending.VersionStage = "AWSPENDING"
	pPending := mustNew(t, cfgPending)

	cases := []struct {
		name    string
		p       *Provider
		version string
		want    string
		wantVer string
		code    providers.Code
	}{
		{"current by default", p, "", "two", v2, providers.OK},
		{"previous stage", p, "AWSPREVIOUS", "one", v1, providers.OK},
		{"current stage", p, "AWSCURRENT", "two", v2, providers.OK},
		{"version id (uuid)", p, v1, "one", v1, providers.OK},
		{"upper-case uuid", p, strings.ToUpper(v1), "", "", providers.NotFound},
		{"explicit stage", p, "stage:AWSPENDING", "pending", "", providers.OK},
		{"explicit id", p, "id:" + custom, "custom-id", custom, providers.OK},
		{"custom label", p, "LABEL", "custom-id", custom, providers.OK},
		{"configured stage", pPending, "", "pending", "", providers.OK},
		{"configured stage, explicit version", pPending, "AWSCURRENT", "two", v2, providers.OK},
		{"unknown stage", p, "NOPE", "", "", providers.NotFound},
		{"unknown id", p, "00000000-0000-4000-8000-000000000000", "", "", providers.NotFound},
		{"empty explicit id", p, "id:", "", "", providers.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.p.Get(ctxT(t), providers.Ref{Name: name, Version: c.version})
			if c.code != providers.OK {
				wantCode(t, c.p, err, c.code)
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.Attributes["password"] != c.want {
				t.Errorf("password %q, want %q", got.Attributes["password"], c.want)
			}
			if c.wantVer != "" && got.Version != c.wantVer {
				t.Errorf("version %q, want %q", got.Version, c.wantVer)
			}
		})
	}
}

func TestVersionSelector(t *testing.T) {
	cases := []struct{ in, id, stage string }{
		{"", "", "DEF"},
		{"AWSPREVIOUS", "", "AWSPREVIOUS"},
		{"6f1c7e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "6f1c7e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", ""},
		{"6f1c7e2a3b4d4e5f8a9b0c1d2e3f4a5b", "", "6f1c7e2a3b4d4e5f8a9b0c1d2e3f4a5b"},
		{"id:token", "token", ""},
		{"stage:6f1c7e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "", "6f1c7e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"},
	}
	for _, c := range cases {
		id, stage := versionSelector(c.in, "DEF")
		if id != c.id || stage != c.stage {
			t.Errorf("versionSelector(%q) = %q, %q; want %q, %q", c.in, id, stage, c.id, c.stage)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	srv.Seed("doomed", `{"password":"x"}`)
	srv.ScheduleDeletion("doomed")

	cases := []struct {
		name   string
		setup  func(*Config) // optional
		fault  awstest.Fault
		custom *[3]string // status, code, message for FailWith
		secret string
		code   providers.Code
		reason string
	}{
		{name: "missing", secret: "absent", code: providers.NotFound},
		{name: "scheduled for deletion", secret: "doomed", code: providers.NotFound, reason: "secret is scheduled for deletion"},
		{name: "access denied", fault: awstest.Denied, secret: "present", code: providers.PermissionDenied,
			reason: "AWS Secrets Manager refused the daemon's identity (IAM policy or credentials) (AccessDeniedException)"},
		{name: "throttling", fault: awstest.Throttling, secret: "present", code: providers.ResourceExhausted,
			reason: "AWS Secrets Manager is throttling requests or a quota is exceeded (ThrottlingException)"},
		{name: "quota", custom: &[3]string{"400", "LimitExceededException", "too many versions"}, secret: "present", code: providers.ResourceExhausted},
		{name: "too many requests", custom: &[3]string{"429", "", "slow down"}, secret: "present", code: providers.ResourceExhausted},
		{name: "internal service error", fault: awstest.InternalError, secret: "present", code: providers.Unavailable},
		{name: "decryption failure", fault: awstest.DecryptionFailure, secret: "present", code: providers.FailedPrecondition,
			reason: "AWS could not decrypt the secret with its KMS key"},
		{name: "unrecognized client", custom: &[3]string{"400", "UnrecognizedClientException", "The security token included in the request is invalid."},
			secret: "present", code: providers.PermissionDenied},
		{name: "invalid signature", custom: &[3]string{"400", "InvalidSignatureException", "Signature expired"},
			secret: "present", code: providers.PermissionDenied},
		{name: "expired token", custom: &[3]string{"400", "ExpiredTokenException", "The security token included in the request is expired"},
			secret: "present", code: providers.PermissionDenied},
		{name: "invalid parameter", custom: &[3]string{"400", "InvalidParameterException", "bad"},
			secret: "present", code: providers.InvalidArgument},
		{name: "other invalid request", custom: &[3]string{"400", "InvalidRequestException", "You can't perform this operation on a replica."},
			secret: "present", code: providers.FailedPrecondition},
		{name: "namespaced code", custom: &[3]string{"400", "com.amazonaws.secretsmanager#ResourceNotFoundException", "gone"},
			secret: "present", code: providers.NotFound},
		{name: "unknown 503", custom: &[3]string{"503", "SomethingNew", "later"}, secret: "present", code: providers.Unavailable},
		{name: "unknown 400", custom: &[3]string{"400", "SomethingNew", "?"}, secret: "present", code: providers.Unknown},
		{name: "down", setup: func(c *Config) { c.Endpoint = closedPortURL(t) }, secret: "present", code: providers.Unavailable,
			reason: "AWS is unreachable: connection refused"},
		{name: "hung past the provider timeout", setup: func(c *Config) { c.Timeout = 200 * time.Millisecond }, fault: awstest.Hung,
			secret: "present", code: providers.Unavailable, reason: "AWS Secrets Manager did not answer within 200ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv.SetFault(c.fault)
			if c.custom != nil {
				var status int
				fmt.Sscan(c.custom[0], &status)
				srv.FailWith(status, c.custom[1], c.custom[2])
			}
			defer srv.SetFault(awstest.NoFault)
			cfg := testConfig(srv)
			if c.setup != nil {
				c.setup(&cfg)
			}
			p := mustNew(t, cfg)
			_, err := p.Get(ctxT(t), providers.Ref{Name: c.secret})
			wantCode(t, p, err, c.code)
			r := providers.ReasonOf(err)
			if r == "" || !strings.HasPrefix(r, c.reason) {
				t.Errorf("reason %q, want %q", r, c.reason)
			}
			if c.custom != nil && strings.Contains(r, c.custom[2]) || strings.Contains(r, c.secret) || strings.Contains(r, "arn:") {
				t.Errorf("reason %q repeats AWS's message or names the secret", r)
			}
		})
	}
}

func TestContextErrors(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	p := mustNew(t, testConfig(srv))

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Get(canceled, providers.Ref{Name: "present"})
	wantCode(t, p, err, providers.Canceled)

	// A hung server: the caller's deadline ends the call, as
	// DeadlineExceeded (the provider's own timeout is longer).
	srv.SetFault(awstest.Hung)
	defer srv.SetFault(awstest.NoFault)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = p.Get(ctx, providers.Ref{Name: "present"})
	wantCode(t, p, err, providers.DeadlineExceeded)
}

// TestRetries checks that max_attempts reaches the SDK: retryable answers
// (throttling, HTTP 500) are tried that many times, then ResourceExhausted
// or Unavailable.
func TestRetries(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	for f, want := range map[awstest.Fault]providers.Code{awstest.Throttling: providers.ResourceExhausted, awstest.InternalError: providers.Unavailable} {
		srv.SetFault(f)
		cfg := testConfig(srv)
		cfg.MaxAttempts = 3
		p := mustNew(t, cfg)
		before := srv.Requests()
		_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, p, err, want)
		if n := srv.Requests() - before; n != 3 {
			t.Errorf("fault %d: server saw %d attempts, want max_attempts = 3", f, n)
		}
	}
}

func TestCredentialChain(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	key, secret := srv.Credentials()

	t.Run("environment", func(t *testing.T) {
		p := mustNew(t, testConfig(srv))
		if _, err := p.Get(ctxT(t), providers.Ref{Name: "present"}); err != nil {
			t.Fatalf("Get: %v", err)
		}
		calls := srv.Calls()
		if c := calls[len(calls)-1]; c.AccessKeyID != key || c.Role != "" {
			t.Fatalf("signed by %+v, want key %s", c, key)
		}
	})
	t.Run("wrong secret key", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-"+secret)
		p := mustNew(t, testConfig(srv))
		_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, p, err, providers.PermissionDenied)
		if strings.Contains(err.Error(), secret) {
			t.Fatal("error carries the secret key")
		}
	})
	t.Run("unknown key id", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN00")
		p := mustNew(t, testConfig(srv))
		_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, p, err, providers.PermissionDenied)
	})
	t.Run("unexpected session token", func(t *testing.T) {
		t.Setenv("AWS_SESSION_TOKEN", "made-up-token")
		p := mustNew(t, testConfig(srv))
		_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, p, err, providers.PermissionDenied)
	})
	t.Run("no credentials anywhere", func(t *testing.T) {
		// Environment empty, shared files empty, instance metadata disabled
		// (by SetEnv): the chain finds nothing. That is an identity
		// problem, not a missing secret.
		unsetenv(t, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
		p := mustNew(t, testConfig(srv))
		before := srv.Requests()
		_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, p, err, providers.PermissionDenied)
		if srv.Requests() != before {
			t.Fatal("an unsigned request was sent")
		}
	})
	t.Run("shared credentials profile", func(t *testing.T) {
		dir := t.TempDir()
		creds := filepath.Join(dir, "credentials")
		content := "[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\naws_secret_access_key = wrong\n\n" +
			"[rpa]\naws_access_key_id = " + key + "\naws_secret_access_key = " + secret + "\n"
		if err := os.WriteFile(creds, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
		unsetenv(t, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

		cfg := testConfig(srv)
		cfg.Profile = "rpa"
		p := mustNew(t, cfg)
		if _, err := p.Get(ctxT(t), providers.Ref{Name: "present"}); err != nil {
			t.Fatalf("Get with profile rpa: %v", err)
		}
		// The default profile holds wrong keys: refused.
		pd := mustNew(t, testConfig(srv))
		_, err := pd.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, pd, err, providers.PermissionDenied)

		cfg.Profile = "nope"
		_, err = New(ctxT(t), cfg)
		var ce *providers.ConfigError
		if !errors.As(err, &ce) || ce.Field != "profile" {
			t.Fatalf("missing profile: got %v, want a ConfigError on profile", err)
		}
	})
}

// unsetenv unsets the variables for the rest of t; t.Setenv restores them.
func unsetenv(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestAssumeRole(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	const role = "arn:aws:iam::123456789012:role/secretbroker-reader"
	srv.AddRole(role, "ext-4711")
	key, _ := srv.Credentials()

	cfg := testConfig(srv)
	cfg.STSEndpoint = srv.URL()
	cfg.AssumeRole = AssumeRole{RoleARN: role, ExternalID: "ext-4711", SessionName: "secretbroker-test"}
	p := mustNew(t, cfg)
	for i := 0; i < 2; i++ {
		if _, err := p.Get(ctxT(t), providers.Ref{Name: "present"}); err != nil {
			t.Fatalf("Get %d: %v", i, err)
		}
	}
	var assumes, gets int
	for _, c := range srv.Calls() {
		switch c.Operation {
		case "AssumeRole":
			assumes++
			if c.AccessKeyID != key {
				t.Errorf("AssumeRole signed by %s, want the base key %s", c.AccessKeyID, key)
			}
		case "GetSecretValue":
			gets++
			if c.Role != role || !strings.HasPrefix(c.AccessKeyID, "ASIA") {
				t.Errorf("GetSecretValue signed by %+v, want the assumed role's credentials", c)
			}
		}
	}
	if assumes != 1 || gets != 2 {
		t.Errorf("%d AssumeRole and %d GetSecretValue calls, want 1 (cached) and 2", assumes, gets)
	}

	for _, c := range []struct {
		name string
		ar   AssumeRole
	}{
		{"wrong external id", AssumeRole{RoleARN: role, ExternalID: "ext-0000"}},
		{"unknown role", AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/other"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(srv)
			cfg.STSEndpoint = srv.URL()
			cfg.AssumeRole = c.ar
			p := mustNew(t, cfg)
			_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
			wantCode(t, p, err, providers.PermissionDenied)
		})
	}
	t.Run("sts down", func(t *testing.T) {
		cfg := testConfig(srv)
		cfg.STSEndpoint = closedPortURL(t)
		cfg.AssumeRole = AssumeRole{RoleARN: role, ExternalID: "ext-4711"}
		p := mustNew(t, cfg)
		_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
		wantCode(t, p, err, providers.Unavailable)
	})
}

func TestPut(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(srv)
	cfg.Writable = true
	cfg.NamePath = "rpa/"
	p := mustNew(t, cfg)
	ctx := ctxT(t)
	ref := providers.Ref{Name: "hr_portal"}

	// Create, then overwrite.
	first := map[string]string{"username": "svc", "password": "<one>&"}
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: first}); err != nil {
		t.Fatalf("Put (create): %v", err)
	}
	v, _, ok := srv.Lookup("rpa/hr_portal")
	if !ok || v.Binary != nil || v.String != `{"password":"<one>&","username":"svc"}` {
		t.Fatalf("stored %+v, want a SecretString JSON object without HTML escapes", v)
	}
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "two"}}); err != nil {
		t.Fatalf("Put (overwrite): %v", err)
	}
	got, err := p.Get(ctx, ref)
	if err != nil || got.Attributes["password"] != "two" || len(got.Attributes) != 1 {
		t.Fatalf("Get after overwrite: %v %v", got, err)
	}
	prev, err := p.Get(ctx, providers.Ref{Name: "hr_portal", Version: "AWSPREVIOUS"})
	if err != nil || prev.Attributes["password"] != "<one>&" {
		t.Fatalf("previous version: %v %v", prev, err)
	}

	// A lone binary password is stored as SecretBinary and reads back intact.
	bin := "\xff\x00\xfe{binary}"
	if err := p.Put(ctx, providers.Ref{Name: "binpw"}, &providers.Secret{Attributes: map[string]string{"password": bin}}); err != nil {
		t.Fatalf("Put binary: %v", err)
	}
	if v, _, _ := srv.Lookup("rpa/binpw"); string(v.Binary) != bin {
		t.Fatalf("stored %+v, want SecretBinary", v)
	}
	if got, err := p.Get(ctx, providers.Ref{Name: "binpw"}); err != nil || got.Attributes["password"] != bin {
		t.Fatalf("Get binary: %v %v", got, err)
	}

	// Other non-UTF-8 values cannot be JSON text.
	const marker = "MARKER-\xff-must-not-leak"
	err = p.Put(ctx, providers.Ref{Name: "mixed"}, &providers.Secret{Attributes: map[string]string{"username": "u", "password": marker}})
	wantCode(t, p, err, providers.InvalidArgument)
	if strings.Contains(fmt.Sprintf("%+v", err), "MARKER") {
		t.Fatalf("error carries the value: %v", err)
	}

	// Refused inputs.
	err = p.Put(ctx, providers.Ref{Name: "hr_portal", Version: "AWSPENDING"}, &providers.Secret{})
	wantCode(t, p, err, providers.InvalidArgument)
	err = p.Put(ctx, ref, nil)
	wantCode(t, p, err, providers.InvalidArgument)

	// Delete schedules deletion: NotFound with a reason, twice.
	if err := p.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, scheduled, _ := srv.Lookup("rpa/hr_portal"); !scheduled {
		t.Fatal("Delete did not schedule the deletion")
	}
	_, err = p.Get(ctx, ref)
	wantCode(t, p, err, providers.NotFound)
	if r := providers.ReasonOf(err); r != reasonScheduled {
		t.Errorf("reason %q", r)
	}
	wantCode(t, p, p.Delete(ctx, ref), providers.NotFound)
	wantCode(t, p, p.Delete(ctx, providers.Ref{Name: "never"}), providers.NotFound)

	// Put on a scheduled secret restores it and writes the new value.
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "three"}}); err != nil {
		t.Fatalf("Put after Delete: %v", err)
	}
	if got, err := p.Get(ctx, ref); err != nil || got.Attributes["password"] != "three" {
		t.Fatalf("Get after restore: %v %v", got, err)
	}
	ops := map[string]int{}
	for _, c := range srv.Calls() {
		ops[c.Operation]++
	}
	if ops["CreateSecret"] != 2 || ops["RestoreSecret"] != 1 {
		t.Errorf("operations %v, want 2 CreateSecret and 1 RestoreSecret", ops)
	}
}

func TestDeleteOptions(t *testing.T) {
	srv := newServer(t)
	srv.Seed("gone", `{"password":"x"}`)
	srv.Seed("windowed", `{"password":"x"}`)

	cfg := testConfig(srv)
	cfg.Writable = true
	cfg.ForceDelete = true
	p := mustNew(t, cfg)
	if err := p.Delete(ctxT(t), providers.Ref{Name: "gone"}); err != nil {
		t.Fatalf("force Delete: %v", err)
	}
	if _, _, ok := srv.Lookup("gone"); ok {
		t.Fatal("force delete left the secret")
	}
	_, err := p.Get(ctxT(t), providers.Ref{Name: "gone"})
	wantCode(t, p, err, providers.NotFound)

	cfg = testConfig(srv)
	cfg.Writable = true
	cfg.RecoveryWindowDays = 7
	p = mustNew(t, cfg)
	if err := p.Delete(ctxT(t), providers.Ref{Name: "windowed"}); err != nil {
		t.Fatalf("Delete with a 7-day window: %v", err)
	}
	if _, scheduled, _ := srv.Lookup("windowed"); !scheduled {
		t.Fatal("not scheduled")
	}
}

func TestNotWritable(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	p := mustNew(t, testConfig(srv))
	if p.Writable() {
		t.Fatal("Writable() without writable: true")
	}
	before := srv.Requests()
	for name, err := range map[string]error{
		"Put":    p.Put(ctxT(t), providers.Ref{Name: "present"}, &providers.Secret{Attributes: map[string]string{"password": "y"}}),
		"Delete": p.Delete(ctxT(t), providers.Ref{Name: "present"}),
	} {
		wantCode(t, p, err, providers.FailedPrecondition)
		if r := providers.ReasonOf(err); r != providers.NotWritable("aws").Reason {
			t.Errorf("%s reason %q", name, r)
		}
	}
	if srv.Requests() != before {
		t.Fatal("a refused write reached AWS")
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	p := mustNew(t, testConfig(srv))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
	wantCode(t, p, err, providers.FailedPrecondition)
}

// TestErrorsHideValues covers the places where this provider could put a
// value into an error: decoding (it never fails, so never quotes), the
// non-UTF-8 refusal of Put, and errors around a secret whose AWS message is
// echoed.
func TestErrorsHideValues(t *testing.T) {
	srv := newServer(t)
	const value = "S3cr3t-Value-Do-Not-Print"
	srv.Seed("broken", `{"password":"`+value) // malformed JSON
	p := mustNew(t, testConfig(srv))
	got, err := p.Get(ctxT(t), providers.Ref{Name: "broken"})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if strings.Contains(fmt.Sprintf(f, got), value) {
			t.Errorf("%s prints the value", f)
		}
	}
	srv.SetFault(awstest.DecryptionFailure)
	defer srv.SetFault(awstest.NoFault)
	_, err = p.Get(ctxT(t), providers.Ref{Name: "broken"})
	if err == nil || strings.Contains(fmt.Sprintf("%+v", err), value) {
		t.Fatalf("error %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	srv := newServer(t)
	srv.Seed("present", `{"password":"x"}`)
	p := mustNew(t, testConfig(srv))
	srv.FailWithHeader(http.StatusTooManyRequests, "TooManyRequestsException", "slow down", http.Header{"Retry-After": {"9"}})
	defer srv.SetFault(awstest.NoFault)
	_, err := p.Get(ctxT(t), providers.Ref{Name: "present"})
	wantCode(t, p, err, providers.ResourceExhausted)
	if got := providers.RetryAfterOf(err); got != 9*time.Second {
		t.Fatalf("RetryAfter = %v, want 9s", got)
	}
	srv.SetFault(awstest.Throttling) // AWS's usual 400 without the header
	_, err = p.Get(ctxT(t), providers.Ref{Name: "present"})
	wantCode(t, p, err, providers.ResourceExhausted)
	if got := providers.RetryAfterOf(err); got != 0 {
		t.Fatalf("RetryAfter without the header = %v", got)
	}
}

func TestRotating(t *testing.T) {
	srv := newServer(t)
	srv.Seed("settled", `{"password":"old"}`)
	srv.Seed("settled", `{"password":"new"}`) // the first becomes AWSPREVIOUS
	srv.Seed("finishing", `{"password":"old"}`)
	srv.SeedValue("finishing", awstest.Value{String: `{"password":"new"}`, Stages: []string{"AWSCURRENT", "AWSPENDING"}})
	srv.Seed("pending", `{"password":"current"}`)
	srv.SeedValue("pending", awstest.Value{String: `{"password":"next"}`, Stages: []string{"AWSPENDING"}})
	p := mustNew(t, testConfig(srv))
	cases := []struct {
		name, version string
		rotating      bool
		password      string
	}{
		{"settled", "", false, "new"},
		{"settled", "AWSPREVIOUS", false, "old"},
		// finishSecret moved AWSCURRENT, AWSPENDING not yet removed.
		{"finishing", "", true, "new"},
		{"finishing", "AWSCURRENT", true, "new"},
		{"finishing", "AWSPREVIOUS", false, "old"},
		// Only a DescribeSecret would show a rotation in its first steps.
		{"pending", "", false, "current"},
		{"pending", "AWSPENDING", false, "next"},
	}
	for _, c := range cases {
		got, err := p.Get(ctxT(t), providers.Ref{Name: c.name, Version: c.version})
		if err != nil {
			t.Fatalf("%s@%s: %v", c.name, c.version, err)
		}
		if got.Rotating != c.rotating || got.Attributes["password"] != c.password {
			t.Errorf("%s@%s: rotating %v, password ok %v; want rotating %v", c.name, c.version, got.Rotating, got.Attributes["password"] == c.password, c.rotating)
		}
	}
	// A configured stage other than AWSCURRENT never says Rotating.
	cfg := testConfig(srv)
	cfg.VersionStage = "AWSPENDING"
	got, err := mustNew(t, cfg).Get(ctxT(t), providers.Ref{Name: "finishing"})
	if err != nil || got.Rotating {
		t.Fatalf("version_stage AWSPENDING: %v rotating=%v", err, got != nil && got.Rotating)
	}
	for stages, want := range map[string]bool{"": false, "AWSCURRENT": false, "AWSCURRENT AWSPENDING": true, "AWSPREVIOUS": true, "AWSCURRENT AWSPREVIOUS": false} {
		if got := rotating(strings.Fields(stages)); got != want {
			t.Errorf("rotating(%q) = %v", stages, got)
		}
	}
}

func TestCheck(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(srv)
	cfg.NamePath = "rpa/"
	p := mustNew(t, cfg)
	ctx := ctxT(t)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	calls := srv.Calls()
	if last := calls[len(calls)-1]; last.Operation != "GetSecretValue" || last.SecretID != "rpa/secretbroker-health-check" {
		t.Fatalf("Check called %+v", last)
	}
	// A secret of that name exists: its value is not read (the version
	// asked for does not exist) and the provider is healthy.
	srv.Seed("rpa/secretbroker-health-check", `{"password":"x"}`)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check with the secret present: %v", err)
	}
	for f, want := range map[awstest.Fault]providers.Code{
		awstest.Denied:        providers.PermissionDenied,
		awstest.Throttling:    providers.ResourceExhausted,
		awstest.InternalError: providers.Unavailable,
	} {
		srv.SetFault(f)
		wantCode(t, p, p.Check(ctx), want)
	}
	srv.SetFault(awstest.NoFault)
	down := testConfig(srv)
	down.Endpoint = closedPortURL(t)
	wantCode(t, p, mustNew(t, down).Check(ctx), providers.Unavailable)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	wantCode(t, p, p.Check(canceled), providers.Canceled)
	p.Close()
	wantCode(t, p, p.Check(ctx), providers.FailedPrecondition)
}
