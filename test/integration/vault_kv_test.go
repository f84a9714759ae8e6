package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
)

func tokenConfig(t *testing.T, s *vaultServer, token, mount string) hashicorp.Config {
	return hashicorp.Config{
		Address: s.addr,
		Mount:   mount,
		Auth:    hashicorp.AuthConfig{Method: hashicorp.MethodToken, TokenFile: writeFile(t, "token", token)},
	}
}

// TestVaultKV2VersionsAndDeletion covers what KV v2 adds: versions, their
// creation time, non-string values, and deleted or destroyed versions.
func TestVaultKV2VersionsAndDeletion(t *testing.T) {
	s := startVault(t)
	ctx := testCtx(t)
	kv := s.admin.KVv2("kv2")
	for i, pw := range []string{"one", "two", "three"} {
		if _, err := kv.Put(ctx, "rpa/cred", map[string]any{"username": "bot", "password": pw, "attempt": i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := tokenConfig(t, s, s.token, "kv2")
	cfg.Path = "rpa"
	p := newProvider(t, cfg, nil)

	before := time.Now()
	got, err := p.Get(ctx, providers.Ref{Name: "cred"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Attributes["password"] != "three" || got.Attributes["attempt"] != "3" || got.Version != "3" {
		t.Fatalf("latest: %v version %q attempt %q", got, got.Version, got.Attributes["attempt"])
	}
	if got.UpdatedAt.IsZero() || got.UpdatedAt.After(before.Add(time.Minute)) {
		t.Fatalf("UpdatedAt %v", got.UpdatedAt)
	}
	old, err := p.Get(ctx, providers.Ref{Name: "cred", Version: "1"})
	if err != nil || old.Attributes["password"] != "one" || old.Version != "1" {
		t.Fatalf("version 1: %v %v", old, err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "cred", Version: "9"})
	wantCode(t, p, err, providers.NotFound)

	// Values that are not strings come back as JSON text.
	if _, err := s.admin.Logical().Write("kv2/data/rpa/typed", map[string]any{"data": map[string]any{
		"port": 8443, "enabled": false, "nested": map[string]any{"a": []any{1, "b"}}, "nothing": nil,
	}}); err != nil {
		t.Fatal(err)
	}
	typed, err := p.Get(ctx, providers.Ref{Name: "typed"})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"port": "8443", "enabled": "false", "nested": `{"a":[1,"b"]}`, "nothing": "null"} {
		if typed.Attributes[k] != want {
			t.Errorf("%s = %q, want %q", k, typed.Attributes[k], want)
		}
	}

	// Soft delete of the latest version: NotFound with a reason, while
	// older versions stay readable.
	if err := kv.Delete(ctx, "rpa/cred"); err != nil {
		t.Fatal(err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "cred"})
	wantCode(t, p, err, providers.NotFound)
	if r := providers.ReasonOf(err); r != "latest version is deleted" {
		t.Fatalf("reason %q", r)
	}
	if _, err := p.Get(ctx, providers.Ref{Name: "cred", Version: "2"}); err != nil {
		t.Fatalf("version 2 after deleting 3: %v", err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "cred", Version: "3"})
	if r := providers.ReasonOf(err); r != "requested version is deleted" {
		t.Fatalf("version 3: %v (reason %q)", err, r)
	}

	// A new version, then destroyed.
	if _, err := kv.Put(ctx, "rpa/cred", map[string]any{"password": "four"}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Get(ctx, providers.Ref{Name: "cred"}); err != nil || got.Version != "4" {
		t.Fatalf("after undelete by put: %v %v", got, err)
	}
	if err := kv.Destroy(ctx, "rpa/cred", []int{4}); err != nil {
		t.Fatal(err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "cred"})
	wantCode(t, p, err, providers.NotFound)
	if r := providers.ReasonOf(err); r != "latest version is destroyed" {
		t.Fatalf("reason %q", r)
	}
}

// TestVaultWriterKV2SoftDelete checks the documented Delete semantics: the
// latest version is soft-deleted, the history stays in Vault, and a later
// Put makes the secret readable again.
func TestVaultWriterKV2SoftDelete(t *testing.T) {
	s := startVault(t)
	ctx := testCtx(t)
	cfg := tokenConfig(t, s, s.token, "kv2")
	cfg.Writable = true
	p := newProvider(t, cfg, nil)
	ref := providers.Ref{Name: "w"}
	for _, pw := range []string{"a", "b"} {
		if err := p.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": pw}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	meta, err := s.admin.KVv2("kv2").GetMetadata(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if meta.CurrentVersion != 2 || len(meta.Versions) != 2 || meta.Versions["2"].DeletionTime.IsZero() || !meta.Versions["1"].DeletionTime.IsZero() {
		t.Fatalf("metadata after Delete: %+v", meta)
	}
	wantCode(t, p, p.Delete(ctx, ref), providers.NotFound)
	if err := p.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "c"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Get(ctx, ref); err != nil || got.Attributes["password"] != "c" || got.Version != "3" {
		t.Fatalf("after re-put: %v %v", got, err)
	}

	ro := newProvider(t, tokenConfig(t, s, s.token, "kv2"), nil)
	err = ro.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"password": "x"}})
	wantCode(t, ro, err, providers.FailedPrecondition)
}

// TestVaultKVDetection checks kv_version 0 against real mounts, and the
// errors for a mount that is not KV or does not exist.
func TestVaultKVDetection(t *testing.T) {
	s := startVault(t)
	ctx := testCtx(t)
	s.admin.KVv1("secret").Put(ctx, "d", map[string]any{"v": "1"})
	s.admin.KVv2("kv2").Put(ctx, "d", map[string]any{"v": "2"})
	for mount, want := range map[string]string{"secret": "1", "kv2": "2"} {
		p := newProvider(t, tokenConfig(t, s, s.token, mount), nil)
		got, err := p.Get(ctx, providers.Ref{Name: "d"})
		if err != nil || got.Attributes["v"] != want {
			t.Errorf("mount %s: %v %v", mount, got, err)
		}
	}
	// Configured explicitly, a wrong version reads the wrong path: KV v1
	// on a v2 mount finds nothing under <mount>/<name>.
	cfg := tokenConfig(t, s, s.token, "kv2")
	cfg.KVVersion = 1
	p := newProvider(t, cfg, nil)
	_, err := p.Get(ctx, providers.Ref{Name: "d"})
	if err == nil {
		t.Error("kv_version 1 on a v2 mount read something")
	}

	// cubbyhole/ is a mount of another engine.
	_, err = hashicorp.New(ctx, tokenConfig(t, s, s.token, "cubbyhole"), nil)
	if c := providers.CodeOf(err); c != providers.FailedPrecondition {
		t.Errorf("non-KV mount: %v (%v)", err, c)
	}
	// Vault answers 403 for a mount that does not exist.
	_, err = hashicorp.New(ctx, tokenConfig(t, s, s.token, "nope"), nil)
	if c := providers.CodeOf(err); c != providers.PermissionDenied || !strings.Contains(providers.ReasonOf(err), "set kv_version") {
		t.Errorf("missing mount: %v (%v)", err, c)
	}

	// A token that may only read one secret can still detect the version.
	tok := s.policyToken(t, "one-secret", `path "kv2/data/d" { capabilities = ["read"] }`, nil)
	p = newProvider(t, tokenConfig(t, s, tok, "kv2"), nil)
	if got, err := p.Get(ctx, providers.Ref{Name: "d"}); err != nil || got.Attributes["v"] != "2" {
		t.Errorf("narrow token: %v %v", got, err)
	}
	_, err = p.Get(ctx, providers.Ref{Name: "other"})
	wantCode(t, p, err, providers.PermissionDenied)
	if r := providers.ReasonOf(err); r == "" || containsAny(r, "kv2", "data", "other", "permission denied") {
		t.Errorf("reason %q names the path or Vault's text", r)
	}

	// A token that may see nothing under the mount cannot detect it: New
	// says so (PermissionDenied), and kv_version fixes it.
	deny := s.policyToken(t, "nothing", `path "kv2/*" { capabilities = ["deny"] }`, nil)
	_, err = hashicorp.New(ctx, tokenConfig(t, s, deny, "kv2"), nil)
	if c := providers.CodeOf(err); c != providers.PermissionDenied {
		t.Errorf("detection with a denied token: %v (%v)", err, c)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
