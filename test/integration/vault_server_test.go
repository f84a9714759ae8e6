package integration

// Helpers for the HashiCorp Vault provider tests: an in-process Vault server
// (the BUSL-licensed server code is used here, in tests only), a harness for
// the conformance suite, and listeners that refuse or hang.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/builtin/credential/approle"
	"github.com/hashicorp/vault/builtin/credential/cert"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/vault"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// vaultServer is an unsealed in-memory Vault core served over HTTP on
// loopback. It stops when the test ends.
type vaultServer struct {
	addr  string      // http://127.0.0.1:port
	token string      // the root token
	admin *api.Client // a client with the root token
}

// credentialBackends are the auth methods the test cores can enable.
func credentialBackends() map[string]logical.Factory {
	return map[string]logical.Factory{"approle": approle.Factory, "cert": cert.Factory}
}

// startVault starts a Vault core. Its "secret/" mount is KV v1; a KV v2
// mount "kv2/" is added.
func startVault(t *testing.T) *vaultServer {
	t.Helper()
	core, _, root := vault.TestCoreUnsealedWithConfig(t, &vault.CoreConfig{CredentialBackends: credentialBackends()})
	ln, addr := vaulthttp.TestServer(t, core)
	t.Cleanup(func() { ln.Close() })
	admin := adminClient(t, addr, root, nil)
	s := &vaultServer{addr: addr, token: root, admin: admin}
	s.mountKV(t, "kv2", 2)
	return s
}

func adminClient(t *testing.T, addr, token string, tlsCfg *api.TLSConfig) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	if tlsCfg != nil {
		if err := cfg.ConfigureTLS(tlsCfg); err != nil {
			t.Fatal(err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func (s *vaultServer) mountKV(t *testing.T, path string, version int) {
	t.Helper()
	err := s.admin.Sys().Mount(path, &api.MountInput{Type: "kv", Options: map[string]string{"version": fmt.Sprint(version)}})
	if err != nil {
		t.Fatalf("mounting %s: %v", path, err)
	}
	if version == 2 {
		// KV v2 upgrades its storage in the background after mounting;
		// wait until it answers writes.
		waitFor(t, "kv v2 mount ready", func() bool {
			_, err := s.admin.Logical().Write(path+"/data/_probe", map[string]any{"data": map[string]any{"x": "y"}})
			return err == nil
		})
		if _, err := s.admin.Logical().Delete(path + "/metadata/_probe"); err != nil {
			t.Fatal(err)
		}
	}
}

// put writes attrs at path in the KV v1 "secret/" mount.
func (s *vaultServer) put(t *testing.T, path string, attrs map[string]string) {
	t.Helper()
	data := make(map[string]any, len(attrs))
	for k, v := range attrs {
		data[k] = v
	}
	if err := s.admin.KVv1("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("writing secret/%s: %v", path, err)
	}
}

// policyToken creates a policy with the given HCL and a token holding it.
func (s *vaultServer) policyToken(t *testing.T, name, hcl string, req *api.TokenCreateRequest) string {
	t.Helper()
	if err := s.admin.Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	if req == nil {
		req = &api.TokenCreateRequest{}
	}
	req.Policies = []string{name}
	sec, err := s.admin.Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("token with %s: %v", name, err)
	}
	return sec.Auth.ClientToken
}

// rwPolicy allows everything a provider needs on a mount.
func rwPolicy(mount string) string {
	return fmt.Sprintf(`path "%s/*" { capabilities = ["create", "read", "update", "delete", "list"] }`, mount)
}

// writeFile writes content to a fresh file and returns its name.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds; the deadline only stops a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newProvider(t *testing.T, cfg hashicorp.Config, logger *slog.Logger) *hashicorp.Provider {
	t.Helper()
	p, err := hashicorp.New(testCtx(t), cfg, logger)
	if err != nil {
		t.Fatalf("hashicorp.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func wantCode(t *testing.T, p providers.Provider, err error, want providers.Code) {
	t.Helper()
	if got := providers.CodeOf(err); got != want {
		t.Fatalf("error %v: code %v, want %v", err, got, want)
	}
}

// vaultHarness runs the conformance suite against one KV mount.
type vaultHarness struct {
	t      *testing.T
	s      *vaultServer
	mount  string
	path   string
	kv     int    // the mount's version, for seeding
	token  string // a token allowed on the mount
	denied string // a token denied the mount
}

var (
	_ providertest.Harness      = (*vaultHarness)(nil)
	_ providertest.FaultHarness = (*vaultHarness)(nil)
)

func newHarness(t *testing.T, s *vaultServer, mount, path string, kv int) *vaultHarness {
	h := &vaultHarness{t: t, s: s, mount: mount, path: path, kv: kv}
	h.token = s.policyToken(t, "rw-"+mount, rwPolicy(mount), nil)
	h.denied = s.policyToken(t, "deny-"+mount, fmt.Sprintf(`path "%s/*" { capabilities = ["deny"] }`, mount), nil)
	return h
}

func (h *vaultHarness) Kind() string     { return naming.HashiCorp }
func (h *vaultHarness) Location() string { return "" }
func (h *vaultHarness) Close()           {}

func (h *vaultHarness) config(addr, token string) hashicorp.Config {
	return hashicorp.Config{
		Address:  addr,
		Mount:    h.mount,
		Path:     h.path,
		Writable: true,
		Auth:     hashicorp.AuthConfig{Method: hashicorp.MethodToken, TokenFile: writeFile(h.t, "token", token)},
	}
}

// MakeProvider detects the KV version (kv_version 0) with a token limited
// to the mount.
func (h *vaultHarness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return hashicorp.New(ctx, h.config(h.s.addr, h.token), nil)
}

func (h *vaultHarness) secretPath(ref providers.Ref) string {
	if h.path == "" {
		return ref.Name
	}
	return h.path + "/" + ref.Name
}

// Seed writes with the root token through Vault's KV helpers.
func (h *vaultHarness) Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	data := make(map[string]any, len(s.Attributes))
	for k, v := range s.Attributes {
		data[k] = v
	}
	if h.kv == 2 {
		_, err := h.s.admin.KVv2(h.mount).Put(ctx, h.secretPath(ref), data)
		return err
	}
	return h.s.admin.KVv1(h.mount).Put(ctx, h.secretPath(ref), data)
}

func (h *vaultHarness) MakeFaultyProvider(ctx context.Context, fault providertest.Fault) (providers.Provider, error) {
	var cfg hashicorp.Config
	switch fault {
	case providertest.Denied:
		cfg = h.config(h.s.addr, h.denied)
	case providertest.Down:
		cfg = h.config(closedAddr(h.t), h.token)
	case providertest.Hung:
		cfg = h.config(hungAddr(h.t), h.token)
	default:
		return nil, providertest.ErrUnsupported
	}
	// Detection needs an answer; the version is known.
	cfg.KVVersion = h.kv
	cfg.Timeout = time.Second
	return hashicorp.New(ctx, cfg, nil)
}

// closedAddr returns the URL of a loopback port nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// hungAddr returns the URL of a loopback listener that accepts connections
// and never answers. It stops when the test ends.
func hungAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// logRecorder is a slog handler that keeps every record's message, so a
// test can see what the provider did in the background.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	all  []string // messages with attributes, for failure output
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Time.Format("15:04:05.000") + " " + rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	r.all = append(r.all, b.String())
	return nil
}

// count returns how many records had message msg.
func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func (r *logRecorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.all, "\n")
}

// lookupFails reports whether Vault no longer accepts token.
func (s *vaultServer) lookupFails(t *testing.T, token string) bool {
	_, err := s.admin.Auth().Token().Lookup(token)
	var re *api.ResponseError
	if err != nil && !errors.As(err, &re) {
		t.Fatalf("token lookup: %v", err)
	}
	return err != nil
}
