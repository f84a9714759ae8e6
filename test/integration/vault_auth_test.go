package integration

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/vault"

	"github.com/secretbroker/secretbroker/internal/testpki"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
)

// Messages the provider logs, watched by these tests.
const (
	msgLogin   = "vault login succeeded"
	msgRelogin = "logged in to vault again"
	msgRenewed = "renewed vault token"
)

// appRole enables AppRole (once per server), creates role name with the
// given token settings and the rw policy of mount, and returns files holding
// its role ID and a fresh secret ID.
func (s *vaultServer) appRole(t *testing.T, name, mount string, tokenSettings map[string]any) (roleIDFile, secretIDFile string) {
	t.Helper()
	auths, err := s.admin.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := auths["approle/"]; !ok {
		if err := s.admin.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.admin.Sys().PutPolicy("rw-"+mount, rwPolicy(mount)); err != nil {
		t.Fatal(err)
	}
	role := map[string]any{"token_policies": "rw-" + mount}
	for k, v := range tokenSettings {
		role[k] = v
	}
	if _, err := s.admin.Logical().Write("auth/approle/role/"+name, role); err != nil {
		t.Fatal(err)
	}
	rid, err := s.admin.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := s.admin.Logical().Write("auth/approle/role/"+name+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "role-id", rid.Data["role_id"].(string)), writeFile(t, "secret-id", sid.Data["secret_id"].(string)+"\n")
}

func seedKV2(t *testing.T, s *vaultServer, name, password string) {
	t.Helper()
	if _, err := s.admin.KVv2("kv2").Put(testCtx(t), name, map[string]any{"username": "bot", "password": password}); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p *hashicorp.Provider, name, password string) {
	t.Helper()
	got, err := p.Get(testCtx(t), providers.Ref{Name: name})
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	if got.Attributes["password"] != password {
		t.Fatalf("Get %s: wrong password", name)
	}
}

// TestVaultAppRole logs in with a role ID file and a secret ID file, and the
// token it gets is limited to its policy.
func TestVaultAppRole(t *testing.T) {
	s := startVault(t)
	seedKV2(t, s, "cred", "pw")
	roleID, secretID := s.appRole(t, "rpa", "kv2", nil)
	logs := &logRecorder{}
	p := newProvider(t, hashicorp.Config{
		Address: s.addr, Mount: "kv2",
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodAppRole, RoleIDFile: roleID, SecretIDFile: secretID},
	}, slog.New(logs))
	mustRead(t, p, "cred", "pw")
	if n := logs.count(msgLogin); n != 1 {
		t.Fatalf("%d logins:\n%s", n, logs.dump())
	}
	// Outside its policy: denied.
	s.admin.KVv1("secret").Put(testCtx(t), "other", map[string]any{"password": "x"})
	cfg := hashicorp.Config{Address: s.addr, Mount: "secret", KVVersion: 1,
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodAppRole, RoleIDFile: roleID, SecretIDFile: secretID}}
	p2 := newProvider(t, cfg, nil)
	_, err := p2.Get(testCtx(t), providers.Ref{Name: "other"})
	wantCode(t, p2, err, providers.PermissionDenied)

	// A wrong secret ID is refused at New.
	cfg.Auth.SecretIDFile = writeFile(t, "bad", "00000000-0000-0000-0000-000000000000")
	_, err = hashicorp.New(testCtx(t), cfg, nil)
	if c := providers.CodeOf(err); c != providers.InvalidArgument && c != providers.PermissionDenied {
		t.Fatalf("bad secret id: %v (%v)", err, c)
	}
}

// TestVaultAppRoleRenewalAndRelogin uses tokens with a 2s TTL and a 4s
// maximum: the provider renews them, logs in again when the maximum comes
// near, and every read keeps working across several token lifetimes.
func TestVaultAppRoleRenewalAndRelogin(t *testing.T) {
	s := startVault(t)
	seedKV2(t, s, "cred", "pw")
	roleID, secretID := s.appRole(t, "short", "kv2", map[string]any{"token_ttl": "2s", "token_max_ttl": "4s"})
	logs := &logRecorder{}
	p := newProvider(t, hashicorp.Config{
		Address: s.addr, Mount: "kv2",
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodAppRole, RoleIDFile: roleID, SecretIDFile: secretID},
	}, slog.New(logs))
	reads := 0
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("provider log:\n%s", logs.dump())
		}
	})
	// Two re-logins, made by the background loop when the watcher gives up
	// near the maximum TTL, or by a read that found its token expired.
	waitFor(t, "two re-logins", func() bool {
		mustRead(t, p, "cred", "pw")
		reads++
		time.Sleep(50 * time.Millisecond)
		return logs.count(msgLogin) >= 3
	})
	mustRead(t, p, "cred", "pw")
	if logs.count(msgRenewed) < 1 {
		t.Errorf("no renewal seen:\n%s", logs.dump())
	}
	t.Logf("%d reads, %d logins, %d renewals", reads, logs.count(msgLogin), logs.count(msgRenewed))
}

// TestVaultTokenFile reads the token from a file. When the token reaches
// its maximum TTL the provider re-reads the file (an agent rotated it);
// when Vault refuses a token, a changed file is picked up at once.
func TestVaultTokenFile(t *testing.T) {
	s := startVault(t)
	seedKV2(t, s, "cred", "pw")
	short := s.policyToken(t, "rw-kv2", rwPolicy("kv2"), &api.TokenCreateRequest{TTL: "2s", ExplicitMaxTTL: "4s"})
	tokenFile := writeFile(t, "token", short+"\n")
	logs := &logRecorder{}
	p := newProvider(t, hashicorp.Config{
		Address: s.addr, Mount: "kv2",
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodToken, TokenFile: tokenFile},
	}, slog.New(logs))
	mustRead(t, p, "cred", "pw")

	// The agent writes the next token; the first one expires.
	next := s.policyToken(t, "rw-kv2", rwPolicy("kv2"), nil)
	if err := os.WriteFile(tokenFile, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first token to expire and a re-login", func() bool {
		return s.lookupFails(t, short) && logs.count(msgRelogin) >= 1
	})
	mustRead(t, p, "cred", "pw")

	// The token is revoked and replaced: the next Get is refused, re-reads
	// the file and succeeds.
	third := s.policyToken(t, "rw-kv2", rwPolicy("kv2"), nil)
	if err := s.admin.Auth().Token().RevokeTree(next); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(third), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRead(t, p, "cred", "pw")

	// Revoked without a replacement: PermissionDenied.
	if err := s.admin.Auth().Token().RevokeTree(third); err != nil {
		t.Fatal(err)
	}
	_, err := p.Get(testCtx(t), providers.Ref{Name: "cred"})
	wantCode(t, p, err, providers.PermissionDenied)
}

// TestVaultTokenFromEnvironment uses VAULT_TOKEN when no token_file is set.
func TestVaultTokenFromEnvironment(t *testing.T) {
	s := startVault(t)
	seedKV2(t, s, "cred", "pw")
	t.Setenv("VAULT_TOKEN", s.policyToken(t, "rw-kv2", rwPolicy("kv2"), nil))
	p := newProvider(t, hashicorp.Config{Address: s.addr, Mount: "kv2", Auth: hashicorp.AuthConfig{Method: hashicorp.MethodToken}}, nil)
	mustRead(t, p, "cred", "pw")
}

// TestVaultTLSAndCertAuth runs a Vault test cluster with TLS: the provider
// trusts it through tls.ca_file, fails Unavailable without it, and logs in
// with a TLS client certificate (cert auth method).
func TestVaultTLSAndCertAuth(t *testing.T) {
	cluster := vault.NewTestCluster(t, &vault.CoreConfig{CredentialBackends: credentialBackends()},
		&vault.TestClusterOptions{HandlerFunc: vaulthttp.Handler, NumCores: 1})
	t.Cleanup(cluster.Cleanup)
	admin := cluster.Cores[0].Client
	admin.SetToken(cluster.RootToken)
	s := &vaultServer{addr: admin.Address(), token: cluster.RootToken, admin: admin}
	s.mountKV(t, "kv2", 2)
	seedKV2(t, s, "cred", "pw")

	cfg := hashicorp.Config{
		Address: s.addr, Mount: "kv2",
		TLS:  hashicorp.TLSConfig{CAFile: cluster.CACertPEMFile},
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodToken, TokenFile: writeFile(t, "token", s.token)},
	}
	mustRead(t, newProvider(t, cfg, nil), "cred", "pw")

	untrusted := cfg
	untrusted.TLS = hashicorp.TLSConfig{}
	untrusted.KVVersion = 2
	p := newProvider(t, untrusted, nil)
	_, err := p.Get(testCtx(t), providers.Ref{Name: "cred"})
	wantCode(t, p, err, providers.Unavailable)

	// Cert auth: a role trusting our own client CA.
	ca := testpki.Must(testpki.NewCA("secretbroker test client CA"))
	client := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "rpa-bot", Client: true}))
	clientCertFile, clientKeyFile, err := client.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Sys().EnableAuthWithOptions("cert", &api.EnableAuthOptions{Type: "cert"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Sys().PutPolicy("rw-kv2", rwPolicy("kv2")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Write("auth/cert/certs/rpa", map[string]any{
		"certificate": string(ca.CertPEM()), "token_policies": "rw-kv2", "token_ttl": "1h",
	}); err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{}
	p = newProvider(t, hashicorp.Config{
		Address: s.addr, Mount: "kv2",
		TLS: hashicorp.TLSConfig{CAFile: cluster.CACertPEMFile,
			ClientCertFile: clientCertFile, ClientKeyFile: clientKeyFile},
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodCert, Name: "rpa"},
	}, slog.New(logs))
	mustRead(t, p, "cred", "pw")
	if logs.count(msgLogin) != 1 {
		t.Fatalf("logins:\n%s", logs.dump())
	}
	// The token is the cert login's, limited by its policy.
	_, err = p.Get(testCtx(t), providers.Ref{Name: "missing"})
	wantCode(t, p, err, providers.NotFound)
}
