package hashicorp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretbroker/secretbroker/internal/testpki"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(ctxT(t), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func wantCode(t *testing.T, _ providers.Provider, err error, want providers.Code) {
	t.Helper()
	providertest.WantCode(t, err, want)
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, "token", "tok")
	empty := writeFile(t, "empty", "  \n")
	missing := dir + "/missing"
	good := func() Config {
		return Config{Address: "https://vault.example:8200", Auth: AuthConfig{Method: MethodToken, TokenFile: tokenFile}}
	}
	t.Setenv("VAULT_TOKEN", "")
	cases := []struct {
		name  string
		edit  func(c *Config)
		field string
	}{
		{"no address", func(c *Config) { c.Address = "" }, "address"},
		{"bad scheme", func(c *Config) { c.Address = "ftp://x" }, "address"},
		{"no host", func(c *Config) { c.Address = "https://" }, "address"},
		{"userinfo", func(c *Config) { c.Address = "https://u:p@vault:8200" }, "address"},
		{"tls with http", func(c *Config) { c.Address = "http://127.0.0.1:8200"; c.TLS.ServerName = "x" }, "tls"},
		{"bad mount", func(c *Config) { c.Mount = "a//b" }, "mount"},
		{"dot path", func(c *Config) { c.Path = "rpa/../x" }, "path"},
		{"kv 3", func(c *Config) { c.KVVersion = 3 }, "kv_version"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, "max_attempts"},
		{"too many attempts", func(c *Config) { c.MaxAttempts = 11 }, "max_attempts"},
		{"no method", func(c *Config) { c.Auth.Method = "" }, "auth.method"},
		{"unknown method", func(c *Config) { c.Auth.Method = "ldap" }, "auth.method"},
		{"token file missing", func(c *Config) { c.Auth.TokenFile = missing }, "auth.token_file"},
		{"token file empty", func(c *Config) { c.Auth.TokenFile = empty }, "auth.token_file"},
		{"no token at all", func(c *Config) { c.Auth.TokenFile = "" }, "auth.token_file"},
		{"foreign field", func(c *Config) { c.Auth.RoleID = "r" }, "auth.role_id"},
		{"approle without role", func(c *Config) { c.Auth = AuthConfig{Method: MethodAppRole} }, "auth.role_id"},
		{"approle both role ids", func(c *Config) {
			c.Auth = AuthConfig{Method: MethodAppRole, RoleID: "r", RoleIDFile: tokenFile}
		}, "auth.role_id_file"},
		{"approle secret missing", func(c *Config) {
			c.Auth = AuthConfig{Method: MethodAppRole, RoleID: "r", SecretIDFile: missing}
		}, "auth.secret_id_file"},
		{"k8s without role", func(c *Config) { c.Auth = AuthConfig{Method: MethodKubernetes, TokenFile: tokenFile} }, "auth.role"},
		{"k8s default jwt missing", func(c *Config) { c.Auth = AuthConfig{Method: MethodKubernetes, Role: "r"} }, "auth.token_file"},
		{"cert without client cert", func(c *Config) { c.Auth = AuthConfig{Method: MethodCert} }, "tls.client_cert_file"},
		{"cert key without cert", func(c *Config) { c.TLS.ClientKeyFile = tokenFile }, "tls.client_cert_file"},
		{"cert without key", func(c *Config) { c.TLS.ClientCertFile = tokenFile }, "tls.client_key_file"},
		{"bad client pair", func(c *Config) { c.TLS.ClientKeyFile = tokenFile; c.TLS.ClientCertFile = tokenFile }, "tls.client_cert_file"},
		{"ca missing", func(c *Config) { c.TLS.CAFile = missing }, "tls.ca_file"},
		{"ca not pem", func(c *Config) { c.TLS.CAFile = tokenFile }, "tls.ca_file"},
		{"bad auth mount", func(c *Config) { c.Auth = AuthConfig{Method: MethodAppRole, RoleID: "r", Mount: "/../"} }, "auth.mount"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good()
			c.edit(&cfg)
			_, err := New(context.Background(), cfg, nil)
			var ce *providers.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if ce.Field != c.field {
				t.Fatalf("field %q (%v), want %q", ce.Field, err, c.field)
			}
			if strings.Contains(ce.Error(), "tok\n") {
				t.Fatalf("config error shows a credential: %v", ce)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "from-env")
	c, err := Config{Address: "https://v:8200", Mount: "/kv/", Path: "/rpa/creds/", MaxAttempts: 1, Auth: AuthConfig{Method: MethodToken}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if c.Mount != "kv" || c.Path != "rpa/creds" || c.Timeout != DefaultTimeout || c.MaxAttempts != 1 {
		t.Fatalf("normalized %+v", c)
	}
	c, err = Config{Address: "https://v:8200", Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if c.Mount != DefaultMount || c.Auth.Mount != "approle" || c.MaxAttempts != DefaultMaxAttempts {
		t.Fatalf("normalized %+v", c)
	}
}

func TestSecretPath(t *testing.T) {
	p := &Provider{cfg: Config{Mount: "secret", Path: "rpa/credentials"}}
	if got := p.secretPath(2, "acct_cred"); got != "secret/data/rpa/credentials/acct_cred" {
		t.Errorf("v2: %s", got)
	}
	if got := p.secretPath(1, "acct_cred"); got != "secret/rpa/credentials/acct_cred" {
		t.Errorf("v1: %s", got)
	}
	p.cfg.Path = ""
	if got := p.secretPath(2, "n"); got != "secret/data/n" {
		t.Errorf("v2 no path: %s", got)
	}
}

func TestGetV2(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) {
		f.data["secret/data/rpa/ok"] = map[string]any{
			"data":     map[string]any{"username": "u", "password": "p", "port": 8080, "enabled": true, "tags": []any{"a"}, "nothing": nil},
			"metadata": map[string]any{"version": 3, "created_time": "2024-05-06T07:08:09.123456789Z", "deletion_time": "", "destroyed": false},
		}
		f.data["secret/data/rpa/ok?version=1"] = map[string]any{
			"data":     map[string]any{"password": "old"},
			"metadata": map[string]any{"version": 1, "created_time": "2024-01-01T00:00:00Z"},
		}
		f.data["secret/data/rpa/deleted"] = map[string]any{
			"data":     nil,
			"metadata": map[string]any{"version": 2, "deletion_time": "2024-05-06T07:08:09Z", "destroyed": false},
		}
		f.data["secret/data/rpa/destroyed"] = map[string]any{
			"data":     nil,
			"metadata": map[string]any{"version": 2, "deletion_time": "", "destroyed": true},
		}
	})
	cfg := f.tokenConfig(t)
	cfg.Path = "rpa"
	p := mustNew(t, cfg)
	ctx := ctxT(t)

	s, err := p.Get(ctx, providers.Ref{Name: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"username": "u", "password": "p", "port": "8080", "enabled": "true", "tags": `["a"]`, "nothing": "null"}
	for k, v := range want {
		if s.Attributes[k] != v {
			t.Errorf("%s = %q, want %q", k, s.Attributes[k], v)
		}
	}
	if s.Version != "3" || !s.UpdatedAt.Equal(time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)) {
		t.Errorf("version %q updated %v", s.Version, s.UpdatedAt)
	}

	s, err = p.Get(ctx, providers.Ref{Name: "ok", Version: "1"})
	if err != nil || s.Attributes["password"] != "old" || s.Version != "1" {
		t.Fatalf("version 1: %v %v", s, err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "ok", Version: "x"})
	wantCode(t, p, err, providers.InvalidArgument)

	for name, reason := range map[string]string{"deleted": "latest version is deleted", "destroyed": "latest version is destroyed", "missing": "no secret with that name"} {
		_, err = p.Get(ctx, providers.Ref{Name: name})
		wantCode(t, p, err, providers.NotFound)
		if got := providers.ReasonOf(err); got != reason {
			t.Errorf("%s: reason %q, want %q", name, got, reason)
		}
	}
	for _, bad := range []string{"", "..", "a/b", "a\nb"} {
		_, err = p.Get(ctx, providers.Ref{Name: bad})
		wantCode(t, p, err, providers.InvalidArgument)
	}
	_, err = p.Get(ctx, providers.Ref{Location: "safe", Name: "ok"})
	wantCode(t, p, err, providers.InvalidArgument)

	// Read-only by default.
	err = p.Put(ctx, providers.Ref{Name: "ok"}, &providers.Secret{Attributes: map[string]string{"a": "b"}})
	wantCode(t, p, err, providers.FailedPrecondition)
	err = p.Delete(ctx, providers.Ref{Name: "ok"})
	wantCode(t, p, err, providers.FailedPrecondition)

	// The mount was detected once, from the configured mount.
	_, reqs := f.snapshot()
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r.Path, "sys/internal/ui/mounts/") {
			n++
			if r.Path != "sys/internal/ui/mounts/secret" {
				t.Errorf("detection path %s", r.Path)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d detections, want 1", n)
	}
}

func TestKV1AndWrites(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.kvVersion = "1" })
	cfg := f.tokenConfig(t)
	cfg.Writable = true
	p := mustNew(t, cfg)
	ctx := ctxT(t)
	ref := providers.Ref{Name: "cred"}
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "pw"}}); err != nil {
		t.Fatal(err)
	}
	s, err := p.Get(ctx, ref)
	if err != nil || s.Attributes["password"] != "pw" || s.Version != "" {
		t.Fatalf("Get: %v %v", s, err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "cred", Version: "1"})
	wantCode(t, p, err, providers.InvalidArgument)
	err = p.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "\xff"}})
	wantCode(t, p, err, providers.InvalidArgument)
	if err := p.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	wantCode(t, p, p.Delete(ctx, ref), providers.NotFound)
	_, reqs := f.snapshot()
	for _, r := range reqs {
		if r.Method == http.MethodPut && r.Path != "secret/cred" {
			t.Errorf("KV v1 write to %s", r.Path)
		}
	}
}

func TestKVVersionConfiguredSkipsDetection(t *testing.T) {
	f := newFakeVault(t)
	cfg := f.tokenConfig(t)
	cfg.KVVersion = 2
	p := mustNew(t, cfg)
	_, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.NotFound)
	_, reqs := f.snapshot()
	for _, r := range reqs {
		if strings.HasPrefix(r.Path, "sys/") {
			t.Errorf("unexpected %s", r.Path)
		}
	}
}

func TestNamespaceHeader(t *testing.T) {
	f := newFakeVault(t)
	cfg := f.tokenConfig(t)
	cfg.Namespace = "rpa/prod"
	t.Setenv("VAULT_NAMESPACE", "from-env")
	p := mustNew(t, cfg)
	if _, err := p.Get(ctxT(t), providers.Ref{Name: "x"}); providers.CodeOf(err) != providers.NotFound {
		t.Fatal(err)
	}
	_, reqs := f.snapshot()
	if len(reqs) < 3 {
		t.Fatalf("only %d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.Namespace != "rpa/prod" {
			t.Errorf("%s %s: namespace %q", r.Method, r.Path, r.Namespace)
		}
	}

	// Without a namespace in the config, none is sent, whatever the
	// environment says.
	p2 := mustNew(t, f.tokenConfig(t))
	f.set(func(f *fakeVault) { f.requests = nil })
	p2.Get(ctxT(t), providers.Ref{Name: "x"})
	_, reqs = f.snapshot()
	for _, r := range reqs {
		if r.Namespace != "" {
			t.Errorf("%s: namespace %q sent", r.Path, r.Namespace)
		}
	}
}

func TestKubernetesLogin(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 3600 })
	jwt := "eyJhbGciOiJSUzI1NiJ9.payload.sig"
	p := mustNew(t, Config{
		Address: f.srv.URL,
		Auth:    AuthConfig{Method: MethodKubernetes, Role: "rpa-bot", Mount: "k8s-prod", TokenFile: writeFile(t, "jwt", jwt+"\n")},
	})
	_, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.NotFound)
	logins, reqs := f.snapshot()
	if len(logins) != 1 {
		t.Fatalf("%d logins", len(logins))
	}
	l := logins[0]
	if l.Path != "auth/k8s-prod/login" || l.Body["jwt"] != jwt || l.Body["role"] != "rpa-bot" || len(l.Body) != 2 {
		t.Fatalf("login %s %v", l.Path, l.Body)
	}
	for _, r := range reqs {
		switch {
		case r.Path == "auth/k8s-prod/login" && r.Token != "":
			t.Errorf("login sent a token")
		case r.Path != "auth/k8s-prod/login" && r.Token != "issued-x":
			t.Errorf("%s used token %q", r.Path, r.Token)
		}
	}
}

func TestAppRoleLoginReadsFilesEachTime(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 3600 })
	roleFile := writeFile(t, "role", "role-1")
	secretFile := writeFile(t, "secret", "secret-1")
	p := mustNew(t, Config{
		Address: f.srv.URL,
		Auth:    AuthConfig{Method: MethodAppRole, RoleIDFile: roleFile, SecretIDFile: secretFile},
	})
	if err := os.WriteFile(secretFile, []byte("secret-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.login(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	logins, _ := f.snapshot()
	if len(logins) != 2 || logins[0].Path != "auth/approle/login" ||
		logins[0].Body["secret_id"] != "secret-1" || logins[1].Body["secret_id"] != "secret-2" || logins[1].Body["role_id"] != "role-1" {
		t.Fatalf("logins %+v", logins)
	}
}

func TestErrorMapping(t *testing.T) {
	f := newFakeVault(t)
	cfg := f.tokenConfig(t)
	cfg.KVVersion = 2
	cfg.MaxAttempts = 1
	p := mustNew(t, cfg)
	cases := map[int]providers.Code{
		400: providers.InvalidArgument,
		403: providers.PermissionDenied,
		405: providers.FailedPrecondition,
		412: providers.Unavailable,
		429: providers.ResourceExhausted,
		500: providers.Unavailable,
		502: providers.Unavailable,
		503: providers.Unavailable,
		418: providers.Unknown,
	}
	for status, want := range cases {
		f.set(func(f *fakeVault) { f.status = status })
		_, err := p.Get(ctxT(t), providers.Ref{Name: "some_name"})
		if got := providers.CodeOf(err); got != want {
			t.Errorf("status %d: %v classified %v, want %v", status, err, got, want)
		}
		if r := providers.ReasonOf(err); r == "" || strings.Contains(r, "secret/") || strings.Contains(r, "some_name") || strings.Contains(r, "injected") {
			t.Errorf("status %d: reason %q is empty or shows a path or vault's text", status, r)
		}
	}

	classified := map[error]providers.Code{
		&net.OpError{Op: "dial", Err: errors.New("refused")}:            providers.Unavailable,
		fmt.Errorf("x: %w", x509.UnknownAuthorityError{}):               providers.Unavailable,
		fmt.Errorf("x: %w", &tls.CertificateVerificationError{}):        providers.Unavailable,
		&api.ResponseError{StatusCode: 404}:                             providers.NotFound,
		context.Canceled:                                                providers.Canceled,
		errors.New("something else"):                                    providers.Unknown,
		providers.Errorf(providers.Internal, nil, "mine"):               providers.Internal,
		fmt.Errorf("wrapped: %w", &api.ResponseError{StatusCode: 503}):  providers.Unavailable,
		fmt.Errorf("wrapped: %w", &api.ResponseError{StatusCode: 401}):  providers.PermissionDenied,
		fmt.Errorf("wrapped: %w", &api.ResponseError{StatusCode: 409}):  providers.Unknown,
		fmt.Errorf("wrapped: %w", &api.ResponseError{StatusCode: 5000}): providers.Unavailable,
		fmt.Errorf("wrapped: %w", &api.ResponseError{StatusCode: 429}):  providers.ResourceExhausted,
	}
	for err, want := range classified {
		if got := classify(err); got != want {
			t.Errorf("classify(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestRequestTimeoutIsUnavailable(t *testing.T) {
	hung := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hung) })
	cfg := Config{Address: srv.URL, KVVersion: 2, Timeout: 200 * time.Millisecond,
		Auth: AuthConfig{Method: MethodToken, TokenFile: writeFile(t, "t", "tok")}}
	// New tolerates an unresponsive vault and keeps trying.
	p := mustNew(t, cfg)
	_, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.Unavailable)
	// The caller's own deadline stays a deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = p.Get(ctx, providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.DeadlineExceeded)
}

func TestUnreachableAtStartThenRecovers(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.status = 503 }) // sealed
	cfg := f.tokenConfig(t)
	cfg.MaxAttempts = 1
	p, err := New(ctxT(t), cfg, nil)
	if err != nil {
		t.Fatalf("New with a sealed vault: %v", err)
	}
	defer p.Close()
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.Unavailable)
	f.set(func(f *fakeVault) {
		f.status = 0
		f.data["secret/data/x"] = map[string]any{"data": map[string]any{"password": "p"}, "metadata": map[string]any{"version": 1}}
	})
	s, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	if err != nil || s.Attributes["password"] != "p" {
		t.Fatalf("after unseal: %v %v", s, err)
	}
}

func TestBadTokenFailsNew(t *testing.T) {
	f := newFakeVault(t)
	cfg := f.tokenConfig(t)
	cfg.Auth.TokenFile = writeFile(t, "t", "not-a-token")
	_, err := New(ctxT(t), cfg, nil)
	if got := classify(err); got != providers.PermissionDenied {
		t.Fatalf("New with a bad token: %v (%v)", err, got)
	}
}

func TestTokenFileReloadedOnDenial(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) {
		f.data["secret/data/x"] = map[string]any{"data": map[string]any{"password": "p"}, "metadata": map[string]any{"version": 1}}
	})
	cfg := f.tokenConfig(t)
	p := mustNew(t, cfg)
	// The agent rotates the token: the old one is revoked, the file changes.
	f.set(func(f *fakeVault) {
		delete(f.tokens, "root-token")
		f.tokens["rotated"] = true
	})
	if err := os.WriteFile(cfg.Auth.TokenFile, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	if err != nil || s.Attributes["password"] != "p" {
		t.Fatalf("after rotation: %v %v", s, err)
	}
	// A denial with an unchanged file stays a denial.
	f.set(func(f *fakeVault) { delete(f.tokens, "rotated") })
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.PermissionDenied)
}

func TestLoginAgainWhenTokenDies(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) {
		f.ttl = 3600
		f.data["secret/data/x"] = map[string]any{"data": map[string]any{"password": "p"}, "metadata": map[string]any{"version": 1}}
		f.denied["secret/data/forbidden"] = true
	})
	p := mustNew(t, Config{Address: f.srv.URL, KVVersion: 2, Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"}, backoffMin: time.Millisecond})
	time.Sleep(5 * time.Millisecond) // past backoffMin: the token is not brand new
	// A path the token may not read: one lookup-self, no new login.
	_, err := p.Get(ctxT(t), providers.Ref{Name: "forbidden"})
	wantCode(t, p, err, providers.PermissionDenied)
	if logins, _ := f.snapshot(); len(logins) != 1 {
		t.Fatalf("%d logins after a policy denial", len(logins))
	}
	// The token is revoked (or expired early): the read logs in again and
	// succeeds.
	f.set(func(f *fakeVault) { delete(f.tokens, "issued-x") })
	s, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	if err != nil || s.Attributes["password"] != "p" {
		t.Fatalf("after revocation: %v %v", s, err)
	}
	if logins, _ := f.snapshot(); len(logins) != 2 {
		t.Fatalf("%d logins, want 2", len(logins))
	}
	// A token refused within backoffMin of its login is not replaced.
	p2 := mustNew(t, Config{Address: f.srv.URL, KVVersion: 2, Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"}, backoffMin: time.Hour})
	f.set(func(f *fakeVault) { delete(f.tokens, "issued-xxx") })
	_, err = p2.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p2, err, providers.PermissionDenied)
	if logins, _ := f.snapshot(); len(logins) != 3 {
		t.Fatalf("%d logins, want 3", len(logins))
	}
}

func TestReloginWhenRenewalFails(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 2; f.renewFails = true })
	p := mustNew(t, Config{Address: f.srv.URL, KVVersion: 2, Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"}, backoffMin: 10 * time.Millisecond})
	// The watcher gives up before the 2s TTL ends; the provider logs in again.
	providertest.WaitFor(t, "a second login", func() bool {
		logins, _ := f.snapshot()
		return len(logins) >= 2
	})
	_, gen := p.current()
	if gen < 2 {
		t.Fatalf("generation %d", gen)
	}
	if tok := p.client.Token(); tok == "issued-x" {
		t.Fatalf("still the first token")
	}
}

func TestReloginRetriesWithBackoff(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 1; f.renewable = false })
	p := mustNew(t, Config{Address: f.srv.URL, KVVersion: 2, MaxAttempts: 1, Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"},
		backoffMin: 5 * time.Millisecond, backoffMax: 20 * time.Millisecond})
	f.set(func(f *fakeVault) { f.status = 503 })
	providertest.WaitFor(t, "failing login attempts", func() bool {
		_, reqs := f.snapshot()
		n := 0
		for _, r := range reqs {
			if r.Path == "auth/approle/login" {
				n++
			}
		}
		return n >= 4
	})
	f.set(func(f *fakeVault) { f.status = 0; f.ttl = 3600 })
	providertest.WaitFor(t, "a successful login", func() bool {
		s, _ := p.current()
		return s.Auth.LeaseDuration == 3600
	})
}

func TestCloseStopsEverything(t *testing.T) {
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 3600 })
	before := runtime.NumGoroutine()
	for range 3 {
		p, err := New(ctxT(t), Config{Address: f.srv.URL, Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Get(ctxT(t), providers.Ref{Name: "x"}); providers.CodeOf(err) != providers.NotFound {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		default:
			t.Fatal("Close returned before the background goroutine ended")
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
		wantCode(t, p, err, providers.FailedPrecondition)
	}
	f.srv.CloseClientConnections()
	providertest.WaitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestCloseAbortsHungRenewal(t *testing.T) {
	// A server whose renew-self hangs: Close must not wait for it.
	hung := make(chan struct{})
	inflight := make(chan struct{}, 1)
	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 2 })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "renew-self") {
			// Read the body so the server notices when the client hangs up.
			io.Copy(io.Discard, r.Body)
			select {
			case inflight <- struct{}{}:
			default:
			}
			select {
			case <-hung:
			case <-r.Context().Done():
			}
			return
		}
		f.serve(w, r)
	}))
	defer srv.Close()
	defer close(hung) // before srv.Close
	p := mustNew(t, Config{Address: srv.URL, KVVersion: 2, Timeout: time.Hour, Auth: AuthConfig{Method: MethodAppRole, RoleID: "r"}})
	// The watcher renews at once.
	select {
	case <-inflight:
	case <-time.After(15 * time.Second):
		t.Fatal("no renewal")
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close is stuck behind a hung renewal")
	}
}

func TestErrorsHideSecretValues(t *testing.T) {
	// Vault answering a write with an error that echoes the request: the
	// reason stays generic.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "lookup-self"):
			writeJSON(w, 200, map[string]any{"data": map[string]any{"ttl": 0}})
		case r.Method == http.MethodGet:
			writeJSON(w, 200, map[string]any{"data": map[string]any{"data": map[string]any{"a": "b"}, "metadata": map[string]any{"version": 1}}})
		default:
			writeJSON(w, 400, map[string]any{"errors": []string{"bad request"}})
		}
	}))
	defer srv.Close()
	p := mustNew(t, Config{Address: srv.URL, KVVersion: 2, Writable: true, Auth: AuthConfig{Method: MethodToken, TokenFile: writeFile(t, "t", "tok")}})
	const value = "s3cr3t-value-never-shown"
	err := p.Put(ctxT(t), providers.Ref{Name: "x"}, &providers.Secret{Attributes: map[string]string{"password": value}})
	wantCode(t, p, err, providers.InvalidArgument)
	if strings.Contains(fmt.Sprintf("%+v", err), value) {
		t.Fatalf("error shows the value: %v", err)
	}
	if r := providers.ReasonOf(err); strings.Contains(r, srv.URL) || strings.Contains(r, "secret/") {
		t.Fatalf("reason shows the address or path: %q", r)
	}
}

// TLS: a CA file makes an https Vault trusted; without it the connection is
// Unavailable; the cert method presents tls.client_cert_file.
func TestTLSAndCertLogin(t *testing.T) {
	ca := testpki.Must(testpki.NewCA("test CA"))
	client := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "rpa-client", Client: true}))
	clientCertFile, clientKeyFile, err := client.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}

	f := newFakeVault(t)
	f.set(func(f *fakeVault) { f.ttl = 3600 })
	var sawClientCert []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			f.set(func(*fakeVault) { sawClientCert = append(sawClientCert, r.TLS.PeerCertificates[0].Subject.CommonName) })
		}
		f.serve(w, r)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := writeFile(t, "ca.pem", string(serverCA))

	tokenFile := writeFile(t, "t", "root-token")
	cfg := Config{Address: srv.URL, KVVersion: 2, MaxAttempts: 1, Auth: AuthConfig{Method: MethodToken, TokenFile: tokenFile}}

	// Untrusted server certificate: Unavailable (New tolerates it).
	p := mustNew(t, cfg)
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.Unavailable)

	// Trusted through ca_file, and server_name is what gets verified.
	cfg.TLS.CAFile = caFile
	p = mustNew(t, cfg)
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.NotFound)
	cfg.TLS.ServerName = "not-in-the-cert.example"
	p = mustNew(t, cfg)
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.Unavailable)

	// VAULT_SKIP_VERIFY from the environment does not override the config.
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	cfg.TLS = TLSConfig{}
	p = mustNew(t, cfg)
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.Unavailable)
	// ...while the explicit (unsafe) setting does.
	cfg.TLS.InsecureSkipVerifyThisIsUnsafe = true
	p = mustNew(t, cfg)
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.NotFound)

	// Cert auth: the client certificate is presented and the login goes to
	// auth/<mount>/login with the role name.
	p = mustNew(t, Config{
		Address: srv.URL, KVVersion: 2,
		TLS:  TLSConfig{CAFile: caFile, ClientCertFile: clientCertFile, ClientKeyFile: clientKeyFile},
		Auth: AuthConfig{Method: MethodCert, Name: "rpa", Mount: "cert-prod"},
	})
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.NotFound)
	logins, _ := f.snapshot()
	last := logins[len(logins)-1]
	if last.Path != "auth/cert-prod/login" || last.Body["name"] != "rpa" {
		t.Fatalf("cert login %+v", last)
	}
	f.set(func(*fakeVault) {
		if len(sawClientCert) == 0 || sawClientCert[0] != "rpa-client" {
			t.Errorf("client certificates seen: %v", sawClientCert)
		}
	})
}

func TestThrottlingCarriesRetryAfter(t *testing.T) {
	f := newFakeVault(t)
	cfg := f.tokenConfig(t)
	cfg.KVVersion = 2
	cfg.MaxAttempts = 1
	p := mustNew(t, cfg)
	f.set(func(f *fakeVault) { f.status, f.retryAfter = 429, "7" })
	_, err := p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.ResourceExhausted)
	if got := providers.RetryAfterOf(err); got != 7*time.Second {
		t.Fatalf("RetryAfter = %v, want 7s", got)
	}
	// A 429 without the header: no RetryAfter, and nothing left over from
	// the call before.
	f.set(func(f *fakeVault) { f.retryAfter = "" })
	err = p.Check(ctxT(t))
	wantCode(t, p, err, providers.ResourceExhausted)
	if got := providers.RetryAfterOf(err); got != 0 {
		t.Fatalf("RetryAfter = %v, want 0", got)
	}
	// A sealed vault may say when to come back too.
	f.set(func(f *fakeVault) { f.status, f.retryAfter = 503, "2" })
	err = p.Put(ctxT(t), providers.Ref{Name: "x"}, &providers.Secret{})
	wantCode(t, p, err, providers.FailedPrecondition) // not writable: no request
	_, err = p.Get(ctxT(t), providers.Ref{Name: "x"})
	wantCode(t, p, err, providers.Unavailable)
	if got := providers.RetryAfterOf(err); got != 2*time.Second {
		t.Fatalf("RetryAfter of 503 = %v, want 2s", got)
	}
}

func TestCheck(t *testing.T) {
	f := newFakeVault(t)
	p := mustNew(t, f.tokenConfig(t))
	ctx := ctxT(t)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check of a healthy vault: %v", err)
	}
	_, reqs := f.snapshot()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodGet || last.Path != "secret/data/"+healthCheckName {
		t.Fatalf("Check read %+v", last)
	}
	// A secret of that name is healthy too.
	f.set(func(f *fakeVault) {
		f.data["secret/data/"+healthCheckName] = map[string]any{"data": map[string]any{"password": "p"}, "metadata": map[string]any{"version": 1}}
	})
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check with the check secret present: %v", err)
	}
	f.set(func(f *fakeVault) { f.denied["secret/data/"+healthCheckName] = true })
	wantCode(t, p, p.Check(ctx), providers.PermissionDenied)
	f.set(func(f *fakeVault) { f.denied = map[string]bool{}; f.status = 503 })
	cfg := f.tokenConfig(t)
	cfg.MaxAttempts = 1
	p2 := mustNew(t, cfg) // sealed at start: New tolerates it, Check does not
	wantCode(t, p2, p2.Check(ctx), providers.Unavailable)
	f.set(func(f *fakeVault) { f.status = 0 })
	if err := p2.Check(ctx); err != nil {
		t.Fatalf("Check after unseal: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	wantCode(t, p, p.Check(canceled), providers.Canceled)
	p.Close()
	wantCode(t, p, p.Check(ctx), providers.FailedPrecondition)
}

func TestReadOnlyTouchesNothing(t *testing.T) {
	f := newFakeVault(t)
	p := mustNew(t, f.tokenConfig(t))
	if p.Writable() {
		t.Fatal("Writable without writable: true")
	}
	_, before := f.snapshot()
	ctx := ctxT(t)
	for _, err := range []error{
		p.Put(ctx, providers.Ref{Name: "x"}, &providers.Secret{Attributes: map[string]string{"password": "p"}}),
		p.Delete(ctx, providers.Ref{Name: "x"}),
		p.Put(ctx, providers.Ref{Name: ""}, nil),
	} {
		wantCode(t, p, err, providers.FailedPrecondition)
		if !strings.Contains(providers.ReasonOf(err), "writable: true") {
			t.Errorf("reason %q does not say how to allow writes", providers.ReasonOf(err))
		}
	}
	if _, after := f.snapshot(); len(after) != len(before) {
		t.Fatalf("refused writes sent %d requests", len(after)-len(before))
	}
	w := f.tokenConfig(t)
	w.Writable = true
	if !mustNew(t, w).Writable() {
		t.Fatal("not Writable with writable: true")
	}
}
