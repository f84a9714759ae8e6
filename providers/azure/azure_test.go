package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/azure"
	"github.com/secretbroker/secretbroker/providers/azure/azuretest"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// sharedCert saves an RSA key generation per test server.
var sharedCert = sync.OnceValue(func() *azuretest.ClientCertificate {
	c, err := azuretest.NewClientCertificate()
	if err != nil {
		panic(err)
	}
	return c
})

func newServer(t *testing.T) *azuretest.Server {
	t.Helper()
	return azuretest.NewServer(t, azuretest.Options{ClientCertificate: sharedCert()})
}

// fastRetry keeps fault tests short: with max_attempts 2, one retry after
// 10ms, and a Retry-After longer than 100ms ends the retries.
var fastRetry = azure.RetryOptions{Delay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}

// seedConfig is the seed's configuration (TenantId, ClientId, VaultName,
// CertificateFile), plus what a test needs to reach the in-process vault:
// the test CA and a dialer that maps the vault's and the authority's names
// to the server.
func seedConfig(srv *azuretest.Server) azure.Config {
	return azure.Config{
		VaultName: srv.VaultName(),
		Auth: azure.AuthConfig{
			TenantID:        srv.TenantID,
			ClientID:        srv.ClientID,
			CertificateFile: srv.CertificatePEMFile,
		},
		TLS:         azure.TLSConfig{CAFile: srv.CAFile},
		DialContext: srv.DialContext,
		MaxAttempts: 2,
		Retry:       fastRetry,
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustNew(t *testing.T, cfg azure.Config) *azure.Provider {
	t.Helper()
	p, err := azure.New(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ref(name string) providers.Ref { return providers.Ref{Name: name} }

func wantCode(t *testing.T, p providers.Provider, err error, want providers.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	if got := providers.CodeOf(err); got != want {
		t.Fatalf("error classified %v, want %v: %v", got, want, err)
	}
	if reason != "" && !strings.Contains(providers.ReasonOf(err), reason) {
		t.Fatalf("reason %q, want it to contain %q", providers.ReasonOf(err), reason)
	}
}

// TestSeedConfiguration proves client certificate authentication end to
// end with the real azidentity and azsecrets: the seed's four settings, a
// plain secret value as the seed's portal steps create it.
func TestSeedConfiguration(t *testing.T) {
	srv := newServer(t)
	version := srv.Seed("rpa-cred", "this is a secret password", "", nil, true, time.Time{})
	p := mustNew(t, seedConfig(srv))

	s, err := p.Get(ctxT(t), ref("rpa-cred"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := s.Attributes["password"]; got != "this is a secret password" {
		t.Errorf("password: got %d bytes, want the seeded value", len(got))
	}
	if s.Version != version {
		t.Errorf("Version %q, want %q", s.Version, version)
	}
	if s.UpdatedAt.IsZero() || time.Since(s.UpdatedAt) > time.Hour {
		t.Errorf("UpdatedAt %v, want the seed time", s.UpdatedAt)
	}
	// One challenge, one authorized request, one token.
	if srv.Requests() != 2 || srv.TokenRequests() != 1 {
		t.Errorf("requests: vault %d, token %d; want 2 and 1", srv.Requests(), srv.TokenRequests())
	}
	// The token is cached: a second Get is one request, no token request.
	if _, err := p.Get(ctxT(t), ref("rpa-cred")); err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if srv.Requests() != 3 || srv.TokenRequests() != 1 {
		t.Errorf("after a second Get: vault %d, token %d; want 3 and 1", srv.Requests(), srv.TokenRequests())
	}
}

func TestSeedConfigurationExplicitMode(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", "pw", "", nil, true, time.Time{})
	cfg := seedConfig(srv)
	cfg.Auth.Mode = azure.ModeClientCertificate
	cfg.Auth.SendCertificateChain = true // x5c: checked against the registered certificate
	if _, err := mustNew(t, cfg).Get(ctxT(t), ref("a")); err != nil {
		t.Fatalf("Get: %v", err)
	}
}

func TestWrongCertificateIsRejected(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", "pw", "", nil, true, time.Time{})
	cfg := seedConfig(srv)
	cfg.Auth.CertificateFile = azuretest.WriteClientCertificate(t)
	p := mustNew(t, cfg)
	_, err := p.Get(ctxT(t), ref("a"))
	wantCode(t, p, err, providers.PermissionDenied, "Azure AD refused the daemon's credential")
	if srv.Requests() != 1 {
		t.Errorf("vault requests %d, want only the challenge", srv.Requests())
	}
}

func TestWrongTenantOrClient(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", "pw", "", nil, true, time.Time{})
	cfg := seedConfig(srv)
	cfg.Auth.ClientID = "11111111-2222-3333-4444-555555555555"
	p := mustNew(t, cfg)
	_, err := p.Get(ctxT(t), ref("a"))
	wantCode(t, p, err, providers.PermissionDenied, "Azure AD refused")
}

func TestClientSecret(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", "pw", "", map[string]string{"username": "bob"}, true, time.Time{})
	base := seedConfig(srv)
	base.Auth = azure.AuthConfig{Mode: azure.ModeClientSecret, TenantID: srv.TenantID, ClientID: srv.ClientID}

	t.Run("File", func(t *testing.T) {
		cfg := base
		cfg.Auth.ClientSecretFile = srv.ClientSecretFile
		s, err := mustNew(t, cfg).Get(ctxT(t), ref("a"))
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if s.Attributes["username"] != "bob" || s.Attributes["password"] != "pw" {
			t.Errorf("got %v", s)
		}
	})
	t.Run("Environment", func(t *testing.T) {
		t.Setenv("AZURE_CLIENT_SECRET", srv.ClientSecret)
		if _, err := mustNew(t, base).Get(ctxT(t), ref("a")); err != nil {
			t.Fatalf("Get: %v", err)
		}
	})
	t.Run("Wrong", func(t *testing.T) {
		cfg := base
		cfg.Auth.ClientSecretFile = filepath.Join(t.TempDir(), "s")
		if err := os.WriteFile(cfg.Auth.ClientSecretFile, []byte("not-the-secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		p := mustNew(t, cfg)
		_, err := p.Get(ctxT(t), ref("a"))
		wantCode(t, p, err, providers.PermissionDenied, "Azure AD refused the daemon's credential")
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("the error carries the client secret: %v", err)
		}
	})
}

func TestWorkloadIdentity(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", "pw", "", nil, true, time.Time{})
	cfg := seedConfig(srv)
	cfg.Auth = azure.AuthConfig{Mode: azure.ModeWorkloadIdentity, TenantID: srv.TenantID, ClientID: srv.ClientID,
		TokenFile: srv.FederatedTokenFile}
	if _, err := mustNew(t, cfg).Get(ctxT(t), ref("a")); err != nil {
		t.Fatalf("Get: %v", err)
	}
	t.Run("FromEnvironment", func(t *testing.T) {
		t.Setenv("AZURE_TENANT_ID", srv.TenantID)
		t.Setenv("AZURE_CLIENT_ID", srv.ClientID)
		t.Setenv("AZURE_FEDERATED_TOKEN_FILE", srv.FederatedTokenFile)
		cfg.Auth = azure.AuthConfig{Mode: azure.ModeWorkloadIdentity}
		if _, err := mustNew(t, cfg).Get(ctxT(t), ref("a")); err != nil {
			t.Fatalf("Get: %v", err)
		}
	})
}

// TestLoopbackConfigOnly is the daemon's end-to-end setup: no custom
// dialer, only configuration (vault_url on 127.0.0.1, ca_file,
// authority_host, disable_instance_discovery), with the SDK's challenge
// resource verification on.
func TestLoopbackConfigOnly(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", `{"username":"u","password":"p"}`, "application/json", nil, true, time.Time{})
	cfg := azure.Config{
		VaultURL:                 srv.LoopbackVaultURL(),
		AuthorityHost:            srv.AuthorityHost(),
		DisableInstanceDiscovery: true,
		TLS:                      azure.TLSConfig{CAFile: srv.CAFile},
		Auth: azure.AuthConfig{
			Mode: azure.ModeClientCertificate, TenantID: srv.TenantID, ClientID: srv.ClientID,
			CertificateFile: srv.CertificatePEMFile,
		},
		MaxAttempts: 2,
		Retry:       fastRetry,
	}
	s, err := mustNew(t, cfg).Get(ctxT(t), ref("a"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if s.Attributes["username"] != "u" || s.Attributes["password"] != "p" {
		t.Errorf("got %v", s)
	}
}

// TestChallengeVerificationIsOn shows that the provider never sends a token
// to a vault whose challenge names a resource outside its domain.
func TestChallengeVerificationIsOn(t *testing.T) {
	for _, tc := range []struct {
		name, resource string
		loopback       bool
	}{
		{"ForeignResource", "https://vault.example.com", false},
		{"LoopbackWithPublicResource", "https://vault.azure.net", true},
		{"LocalhostResource", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resource := tc.resource
			if resource == "" {
				resource = "https://localhost" // no port: cannot match localhost:<port>
			}
			srv := azuretest.NewServer(t, azuretest.Options{ClientCertificate: sharedCert(), ChallengeResource: resource})
			srv.Seed("a", "pw", "", nil, true, time.Time{})
			cfg := seedConfig(srv)
			if tc.loopback || tc.name == "LocalhostResource" {
				cfg.VaultName = ""
				cfg.VaultURL = srv.LoopbackVaultURL()
				if tc.name == "LocalhostResource" {
					_, port, _ := net.SplitHostPort(srv.Addr())
					cfg.VaultURL = "https://localhost:" + port
				}
			}
			p := mustNew(t, cfg)
			_, err := p.Get(ctxT(t), ref("a"))
			if err == nil {
				t.Fatal("Get succeeded although the challenge names a foreign resource")
			}
			if !strings.Contains(err.Error(), "doesn't match the requested domain") {
				t.Errorf("error %v, want the SDK's challenge verification error", err)
			}
			if srv.TokenRequests() != 0 {
				t.Errorf("%d token requests: the credential was used", srv.TokenRequests())
			}
		})
	}
}

func TestUntrustedTLS(t *testing.T) {
	srv := newServer(t)
	cfg := seedConfig(srv)
	cfg.TLS.CAFile = ""
	p := mustNew(t, cfg)
	_, err := p.Get(ctxT(t), ref("a"))
	wantCode(t, p, err, providers.Unavailable, "not trusted")
}

func TestDisabledExpiredNotYetValid(t *testing.T) {
	srv := newServer(t)
	srv.Seed("disabled", "pw", "", nil, true, time.Time{})
	srv.Disable("disabled")
	srv.Seed("disabled-attr", "pw", "", nil, false, time.Time{})
	srv.Seed("expired", "pw", "", nil, true, time.Now().Add(-time.Minute))
	srv.Seed("future", "pw", "", nil, true, time.Time{})
	srv.SetNotBefore("future", time.Now().Add(time.Hour))
	srv.Seed("valid", "pw", "", nil, true, time.Now().Add(time.Hour))
	p := mustNew(t, seedConfig(srv))

	for name, reason := range map[string]string{
		"disabled":      "secret is disabled",
		"disabled-attr": "secret is disabled",
		"expired":       "secret has expired",
		"future":        "secret is not yet valid",
	} {
		_, err := p.Get(ctxT(t), ref(name))
		t.Run(name, func(t *testing.T) { wantCode(t, p, err, providers.NotFound, reason) })
	}
	if _, err := p.Get(ctxT(t), ref("valid")); err != nil {
		t.Errorf("Get of a secret that expires later: %v", err)
	}
}

func TestPlainValues(t *testing.T) {
	srv := newServer(t)
	srv.Seed("tagged", "pw1", "", map[string]string{"username": "svc-bot", "domain": "ACME"}, true, time.Time{})
	srv.Seed("custom-tag", "pw2", "", map[string]string{"user": "alice"}, true, time.Time{})
	srv.Seed("content-type", "pw3", `text/plain; username="ACME\\carol"; domain=ACME`, nil, true, time.Time{})
	srv.Seed("content-type-only", "pw4", "username=dave", nil, true, time.Time{})
	srv.Seed("json-looking", `{"a":"b"}`, "text/plain", nil, true, time.Time{})
	srv.Seed("sniffed-json", `{"username":"eve","password":"pw5","port":5432,"admin":true}`, "", nil, true, time.Time{})
	srv.Seed("brace-password", `{not json`, "", nil, true, time.Time{})

	p := mustNew(t, seedConfig(srv))
	cfg := seedConfig(srv)
	cfg.UsernameTag = "user"
	pCustom := mustNew(t, cfg)

	cases := []struct {
		p    *azure.Provider
		name string
		want map[string]string
	}{
		{p, "tagged", map[string]string{"password": "pw1", "username": "svc-bot", "domain": "ACME"}},
		{pCustom, "custom-tag", map[string]string{"password": "pw2", "username": "alice"}},
		{p, "custom-tag", map[string]string{"password": "pw2"}},
		{p, "content-type", map[string]string{"password": "pw3", "username": `ACME\carol`, "domain": "ACME"}},
		{p, "content-type-only", map[string]string{"password": "pw4", "username": "dave"}},
		{p, "json-looking", map[string]string{"password": `{"a":"b"}`}},
		{p, "sniffed-json", map[string]string{"username": "eve", "password": "pw5", "port": "5432", "admin": "true"}},
		{p, "brace-password", map[string]string{"password": "{not json"}},
	}
	for _, c := range cases {
		s, err := c.p.Get(ctxT(t), ref(c.name))
		if err != nil {
			t.Errorf("Get %s: %v", c.name, err)
			continue
		}
		if len(s.Attributes) != len(c.want) {
			t.Errorf("%s: got keys %v, want %d keys", c.name, s, len(c.want))
		}
		for k, v := range c.want {
			if s.Attributes[k] != v {
				t.Errorf("%s: attribute %s = %q, want %q", c.name, k, s.Attributes[k], v)
			}
		}
	}
}

func TestBadJSONDoesNotLeak(t *testing.T) {
	srv := newServer(t)
	const value = `{"password":"Tr0ub4dor&3-leak" oops`
	srv.Seed("bad", value, "application/json", nil, true, time.Time{})
	p := mustNew(t, seedConfig(srv))
	_, err := p.Get(ctxT(t), ref("bad"))
	wantCode(t, p, err, providers.Internal, "not a JSON object")
	if strings.Contains(fmt.Sprintf("%+v", err), "Tr0ub4dor") || strings.Contains(fmt.Sprintf("%+v", err), "oops") {
		t.Errorf("the error quotes the value: %v", err)
	}
}

func TestVersions(t *testing.T) {
	srv := newServer(t)
	v1 := srv.Seed("a", "one", "", nil, true, time.Time{})
	v2 := srv.Seed("a", "two", "", nil, true, time.Time{})
	p := mustNew(t, seedConfig(srv))
	for _, c := range []struct{ version, want, wantVersion string }{
		{"", "two", v2}, {v1, "one", v1}, {v2, "two", v2},
	} {
		s, err := p.Get(ctxT(t), providers.Ref{Name: "a", Version: c.version})
		if err != nil {
			t.Fatalf("Get version %q: %v", c.version, err)
		}
		if s.Attributes["password"] != c.want || s.Version != c.wantVersion {
			t.Errorf("version %q: got %q version %q", c.version, s.Attributes["password"], s.Version)
		}
	}
	_, err := p.Get(ctxT(t), providers.Ref{Name: "a", Version: "0123456789abcdef0123456789abcdef"})
	wantCode(t, p, err, providers.NotFound, "")
	_, err = p.Get(ctxT(t), providers.Ref{Name: "a", Version: "../x"})
	wantCode(t, p, err, providers.InvalidArgument, "")
	_, err = p.Get(ctxT(t), providers.Ref{Name: "has_underscore"})
	wantCode(t, p, err, providers.InvalidArgument, "")
	_, err = p.Get(ctxT(t), providers.Ref{Location: "Safe", Name: "a"})
	wantCode(t, p, err, providers.InvalidArgument, "")
}

func TestWritable(t *testing.T) {
	srv := newServer(t)
	cfg := seedConfig(srv)
	cfg.Writable = true
	p := mustNew(t, cfg)
	ctx := ctxT(t)
	attrs := map[string]string{"username": "w", "password": "<p&w>", "domain": "ACME"}
	if err := p.Put(ctx, ref("written"), &providers.Secret{Attributes: attrs}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	value, ct, ok := srv.Stored("written")
	if !ok || ct != "application/json" {
		t.Fatalf("stored: ok %v, content type %q", ok, ct)
	}
	var stored map[string]string
	if err := json.Unmarshal([]byte(value), &stored); err != nil || stored["password"] != "<p&w>" {
		t.Fatalf("stored value is not the attributes as JSON (%v)", err)
	}
	s, err := p.Get(ctx, ref("written"))
	if err != nil || s.Attributes["domain"] != "ACME" {
		t.Fatalf("Get after Put: %v %v", s, err)
	}

	if err := p.Delete(ctx, ref("written")); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !srv.Deleted("written") {
		t.Error("the secret is not soft-deleted")
	}
	_, err = p.Get(ctx, ref("written"))
	wantCode(t, p, err, providers.NotFound, "")
	err = p.Delete(ctx, ref("written"))
	wantCode(t, p, err, providers.NotFound, "")
	// The name is taken until the deleted secret is purged.
	err = p.Put(ctx, ref("written"), &providers.Secret{Attributes: attrs})
	wantCode(t, p, err, providers.FailedPrecondition, "purge")
	srv.Purge("written")
	if err := p.Put(ctx, ref("written"), &providers.Secret{Attributes: attrs}); err != nil {
		t.Fatalf("Put after purge: %v", err)
	}

	err = p.Put(ctx, ref("big"), &providers.Secret{Attributes: map[string]string{"password": strings.Repeat("x", 26*1024)}})
	wantCode(t, p, err, providers.InvalidArgument, "limit")
	err = p.Put(ctx, ref("bin"), &providers.Secret{Attributes: map[string]string{"password": "\xff\xfe"}})
	wantCode(t, p, err, providers.InvalidArgument, "UTF-8")
}

func TestReadOnly(t *testing.T) {
	srv := newServer(t)
	srv.Seed("a", "pw", "", nil, true, time.Time{})
	p := mustNew(t, seedConfig(srv))
	err := p.Put(ctxT(t), ref("a"), &providers.Secret{Attributes: map[string]string{"password": "x"}})
	wantCode(t, p, err, providers.FailedPrecondition, "writable: true")
	err = p.Delete(ctxT(t), ref("a"))
	wantCode(t, p, err, providers.FailedPrecondition, "writable: true")
	if srv.Requests() != 0 {
		t.Errorf("%d vault requests for refused writes", srv.Requests())
	}
}

func TestVaultFaults(t *testing.T) {
	for _, c := range []struct {
		fault  azuretest.Fault
		want   providers.Code
		reason string
	}{
		{azuretest.Denied, providers.PermissionDenied, "refused the daemon's identity"},
		{azuretest.Throttled, providers.ResourceExhausted, "throttling"},
		{azuretest.Unavailable, providers.Unavailable, "unavailable"},
	} {
		t.Run(c.fault.String(), func(t *testing.T) {
			srv := newServer(t)
			srv.Seed("a", "pw", "", nil, true, time.Time{})
			srv.SetFault(c.fault)
			p := mustNew(t, seedConfig(srv))
			_, err := p.Get(ctxT(t), ref("a"))
			wantCode(t, p, err, c.want, c.reason)
			wantCode(t, p, p.Check(ctxT(t)), c.want, c.reason)
			if c.fault == azuretest.Throttled && providers.RetryAfterOf(err) != time.Second {
				t.Errorf("RetryAfter = %v, want the vault's 1s", providers.RetryAfterOf(err))
			}
			srv.SetFault(azuretest.NoFault)
			if _, err := p.Get(ctxT(t), ref("a")); err != nil {
				t.Errorf("Get after the fault cleared: %v", err)
			}
		})
	}
	t.Run("TokenHung", func(t *testing.T) {
		// The vault answers the challenge, then the token request hangs:
		// the caller's deadline wins over the credential's error.
		srv := newServer(t)
		srv.Seed("a", "pw", "", nil, true, time.Time{})
		cfg := seedConfig(srv)
		p := mustNew(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		srv.SetFault(azuretest.TokenHung)
		_, err := p.Get(ctx, ref("a"))
		wantCode(t, p, err, providers.DeadlineExceeded, "")
		if srv.Requests() != 1 || srv.TokenRequests() != 1 {
			t.Errorf("requests: vault %d, token %d; want 1 and 1", srv.Requests(), srv.TokenRequests())
		}
	})
}

func TestCheck(t *testing.T) {
	srv := newServer(t)
	p := mustNew(t, seedConfig(srv))
	if err := p.Check(ctxT(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if srv.Requests() == 0 || srv.TokenRequests() == 0 {
		t.Fatalf("Check did not reach the vault and the authority: %d, %d", srv.Requests(), srv.TokenRequests())
	}
	// A secret of that name: its value is not read (the version does not
	// exist), and the vault is healthy.
	srv.Seed("secretbroker-health-check", "Tr0ub4dor&3", "", nil, true, time.Time{})
	if err := p.Check(ctxT(t)); err != nil {
		t.Fatalf("Check with the secret present: %v", err)
	}
	// A wrong credential is PermissionDenied.
	bad := seedConfig(srv)
	bad.Auth.ClientID = "00000000-0000-0000-0000-000000000000"
	wantCode(t, p, mustNew(t, bad).Check(ctxT(t)), providers.PermissionDenied, "")
	// An untrusted vault is Unavailable.
	untrusted := seedConfig(srv)
	untrusted.TLS.CAFile = ""
	wantCode(t, p, mustNew(t, untrusted).Check(ctxT(t)), providers.Unavailable, "not trusted")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	wantCode(t, p, p.Check(canceled), providers.Canceled, "")
	p.Close()
	wantCode(t, p, p.Check(ctxT(t)), providers.FailedPrecondition, "closed")
}

func TestClosed(t *testing.T) {
	srv := newServer(t)
	p := mustNew(t, seedConfig(srv))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := p.Get(ctxT(t), ref("a"))
	wantCode(t, p, err, providers.FailedPrecondition, "closed")
}

// harness runs the conformance suite against an azuretest server.
type harness struct {
	t   *testing.T
	srv *azuretest.Server
}

var (
	_ providertest.FaultHarness    = (*harness)(nil)
	_ providertest.ReadOnlyHarness = (*harness)(nil)
)

func (h *harness) Kind() string     { return naming.Azure }
func (h *harness) Location() string { return "" }
func (h *harness) Close()           { h.srv.Close() }

func (h *harness) config(srv *azuretest.Server) azure.Config {
	cfg := seedConfig(srv)
	cfg.Writable = true
	return cfg
}

func (h *harness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return azure.New(ctx, h.config(h.srv))
}

func (h *harness) MakeReadOnlyProvider(ctx context.Context) (providers.Provider, error) {
	cfg := h.config(h.srv)
	cfg.Writable = false
	return azure.New(ctx, cfg)
}

func (h *harness) Seed(ctx context.Context, r providers.Ref, s *providers.Secret) error {
	b, err := json.Marshal(s.Attributes)
	if err != nil {
		return err
	}
	h.srv.Seed(r.Name, string(b), azure.JSONContentType, nil, true, time.Time{})
	return nil
}

func (h *harness) MakeFaultyProvider(ctx context.Context, f providertest.Fault) (providers.Provider, error) {
	switch f {
	case providertest.Denied, providertest.Hung:
		srv := newServer(h.t)
		if f == providertest.Denied {
			srv.SetFault(azuretest.Denied)
		} else {
			srv.SetFault(azuretest.Hung)
		}
		return azure.New(ctx, h.config(srv))
	case providertest.Down:
		// A port where nothing listens, reached under the vault's name.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := l.Addr().String()
		l.Close()
		cfg := h.config(h.srv)
		cfg.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		return azure.New(ctx, cfg)
	}
	return nil, providertest.ErrUnsupported
}

func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{t: t, srv: newServer(t)}, providertest.Options{BinaryValues: false})
}

func TestNewDoesNoIO(t *testing.T) {
	// New validates and builds clients; it makes no request.
	srv := newServer(t)
	mustNew(t, seedConfig(srv))
	if srv.Requests()+srv.TokenRequests() != 0 {
		t.Errorf("New made requests")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := azure.New(ctx, seedConfig(srv)); !errors.Is(err, context.Canceled) {
		t.Errorf("New with a cancelled context: %v", err)
	}
}
