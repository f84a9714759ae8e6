package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/vault"

	"github.com/secretbroker/secretbroker/internal/daemontest"
	"github.com/secretbroker/secretbroker/internal/loadgen"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// Load of BenchmarkVaultDirectVsDaemon: closed-loop workers, warm-up and
// measured window of each side.
const (
	vaultBenchConcurrency = 32
	vaultBenchWarmup      = time.Second
	vaultBenchDuration    = 5 * time.Second
)

// BenchmarkVaultDirectVsDaemon compares a bot reading one credential from a
// real HashiCorp Vault (in this process, KV v2 on loopback HTTP) directly
// through vault/api with the same bot reading it through secretbrokerd
// (built and started as a process, a hashicorp provider pointed at that
// Vault, its cache on, audit on, the bot authenticated by a bearer token
// and granted by a policy). Both sides run internal/loadgen at concurrency
// 32 for a fixed window, each worker sharing one client (one vault/api
// client allowed as many idle connections as workers; one gRPC
// connection). It reports requests/s and p99 of both, and the ratio of the
// request rates (target: the daemon at least 4x Vault's), through
// b.ReportMetric and a log line. Timings are reported, never asserted.
// The window is fixed, so run it once:
//
//	cd test/integration && go test -run '^$' -bench VaultDirectVsDaemon -benchtime 1x
func BenchmarkVaultDirectVsDaemon(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	addr, root := startBenchVault(b)
	admin := benchVaultClient(b, addr, root, 4)
	if err := admin.Sys().Mount("kv2", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		b.Fatalf("mounting kv2: %v", err)
	}
	// KV v2 upgrades its storage in the background after mounting.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := admin.KVv2("kv2").Put(ctx, "_probe", map[string]any{"x": "y"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the kv2 mount did not become writable: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The daemon: a hashicorp provider on kv2/rpa with Vault's root token
	// from a file, the cache on, a bot token granted the locker.
	dir := b.TempDir()
	tokenFile := filepath.Join(dir, "vault-token")
	if err := os.WriteFile(tokenFile, []byte(root+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	const botToken = "bench-bot-token-0123456789abcdef"
	sum := sha256.Sum256([]byte(botToken))
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
admin:
  listen: off
auth:
  local_admin_token: false
  tokens:
    - identity: bench-bot
      sha256: "sha256:%s"
policy:
  clients:
    - name: bench-bot
      identities: [bench-bot]
      operations: [credential, resolve]
      lockers: [finance]
audit:
  path: audit.log
providers:
  vault:
    hashicorp:
      address: %s
      mount: kv2
      path: rpa
      kv_version: 2
      auth: {method: token, token_file: %q}
    cache: {ttl: 5m, negative_ttl: 30s, max_entries: 1000, max_bytes: 16MiB}
lockers:
  finance: {provider: vault, prefix: accounting}
`, hex.EncodeToString(sum[:]), addr, tokenFile)
	cfgFile := filepath.Join(dir, "secretbroker.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := daemontest.Build(b)
	d := daemontest.Start(b, bin, nil, "-config", cfgFile, "-data-dir", dir, "-listen", "127.0.0.1:0")
	client := pb.NewSecretBrokerClient(daemontest.DialToken(b, d.Addr, botToken))
	req := &pb.GetCredentialRequest{Locker: "finance", Credential: "cred01"}

	// The secret, written where the daemon reads it (its encoded name).
	res, err := client.ResolveName(ctx, &pb.ResolveNameRequest{Locker: req.Locker, Credential: req.Credential})
	if err != nil || len(res.GetCandidates()) != 1 {
		b.Fatalf("resolving the credential's name: %v (%d candidates)\n%s", err, len(res.GetCandidates()), d.Logs())
	}
	secretPath := "rpa/" + res.GetCandidates()[0].GetSource().GetSecretName()
	if _, err := admin.KVv2("kv2").Put(ctx, secretPath, map[string]any{"username": "svc-erp", "password": "Bench-Pw-0123456789abcd!", "domain": "ABCD"}); err != nil {
		b.Fatalf("writing kv2/%s: %v", secretPath, err)
	}

	// The bot reading Vault directly: one client with a token allowed to
	// read, as many idle connections as workers.
	bot := benchVaultClient(b, addr, root, vaultBenchConcurrency)
	kv := bot.KVv2("kv2")
	direct := func(ctx context.Context, _ int, _ uint64) error {
		s, err := kv.Get(ctx, secretPath)
		if err == nil && s.Data["password"] != "Bench-Pw-0123456789abcd!" {
			return fmt.Errorf("vault served a different password")
		}
		return err
	}
	viaDaemon := func(ctx context.Context, _ int, _ uint64) error {
		r, err := client.GetCredential(ctx, req)
		if err == nil && r.GetCredential().GetAttributes()["password"] != "Bench-Pw-0123456789abcd!" {
			return fmt.Errorf("the daemon served a different password")
		}
		return err
	}
	opts := loadgen.Options{Concurrency: vaultBenchConcurrency, Warmup: vaultBenchWarmup, Duration: vaultBenchDuration, CallTimeout: 30 * time.Second}

	b.ResetTimer()
	for b.Loop() {
		v, err := loadgen.Run(ctx, opts, direct)
		if err != nil {
			b.Fatalf("reading Vault directly: %v", err)
		}
		s, err := loadgen.Run(ctx, opts, viaDaemon)
		if err != nil {
			b.Fatalf("reading through the daemon: %v\n%s", err, d.Logs())
		}
		ratio := s.RPS() / v.RPS()
		b.ReportMetric(v.RPS(), "vault-req/s")
		b.ReportMetric(float64(v.P99())/float64(time.Millisecond), "vault-p99-ms")
		b.ReportMetric(s.RPS(), "daemon-req/s")
		b.ReportMetric(float64(s.P99())/float64(time.Millisecond), "daemon-p99-ms")
		b.ReportMetric(ratio, "daemon/vault-rps")
		b.Logf("concurrency %d, %v measured each: Vault directly %.0f req/s (p50 %v, p99 %v); through secretbrokerd %.0f req/s (p50 %v, p99 %v); ratio %.1fx (target >= 4x)",
			vaultBenchConcurrency, vaultBenchDuration, v.RPS(), v.P50(), v.P99(), s.RPS(), s.P50(), s.P99(), ratio)
	}
	b.StopTimer()
	d.Stop(b)
}

// startBenchVault starts an unsealed in-memory Vault core served over HTTP
// on loopback and returns its address and root token. It stops when the
// benchmark ends.
func startBenchVault(tb testing.TB) (addr, root string) {
	tb.Helper()
	// A silent core: its debug log would compete with the load for CPU.
	core, _, root := vault.TestCoreUnsealedWithConfig(tb, &vault.CoreConfig{Logger: hclog.NewNullLogger()})
	ln, addr := vaulthttp.TestServer(tb, core)
	tb.Cleanup(func() { ln.Close() })
	return addr, root
}

// benchVaultClient is a vault/api client with token that keeps up to idle
// connections to Vault open.
func benchVaultClient(tb testing.TB, addr, token string, idle int) *api.Client {
	tb.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = idle
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c.SetToken(token)
	return c
}
