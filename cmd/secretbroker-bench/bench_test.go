package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/internal/config"
	"github.com/secretbroker/secretbroker/internal/testpki"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

func testPKI(t *testing.T) *pki {
	t.Helper()
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDaemonConfigValid checks that the generated configurations pass the
// daemon's own validation, with and without the hashicorp provider.
func TestDaemonConfigValid(t *testing.T) {
	p := testPKI(t)
	tokenFile := p.dir + "/vault-token"
	if err := os.WriteFile(tokenFile, []byte("t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []daemonConfig{
		{pki: p, maxEntries: 1000},
		{pki: p, maxEntries: 1000, vaultAddr: "http://127.0.0.1:8200", vaultTokenFile: tokenFile},
	} {
		cfg, err := config.Parse("bench.yaml", []byte(c.yaml()))
		if err != nil {
			t.Fatalf("the generated configuration is refused: %v\n%s", err, c.yaml())
		}
		if cfg.Server.TLS == nil || cfg.Server.TLS.ClientCAFile != p.caFile {
			t.Errorf("server.tls %+v: want mutual TLS with client CA %s", cfg.Server.TLS, p.caFile)
		}
		if cfg.Audit.Path != "audit.log" {
			t.Errorf("audit.path %q, want audit.log", cfg.Audit.Path)
		}
		if cfg.LocalAdminToken() || len(cfg.Auth.Tokens) != 0 {
			t.Error("the configuration has tokens; the bots are identified by certificate only")
		}
		wantProviders := 1
		if c.vaultAddr != "" {
			wantProviders = 2
		}
		if len(cfg.Providers) != wantProviders {
			t.Errorf("%d providers, want %d", len(cfg.Providers), wantProviders)
		}
	}
}

func TestMetricsSum(t *testing.T) {
	m := metrics(`# HELP secretbroker_cache_entries Entries.
# TYPE secretbroker_cache_entries gauge
secretbroker_cache_entries{provider="store"} 100000
secretbroker_cache_entries{provider="vault"} 5
secretbroker_cache_entries_other 7
secretbroker_cache_misses_total{provider="store"} 1.5e+06
go_memstats_heap_inuse_bytes 2.097152e+07
`)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"secretbroker_cache_entries", nil, 100005},
		{"secretbroker_cache_entries", []string{`provider="vault"`}, 5},
		{"secretbroker_cache_misses_total", nil, 1500000},
		{"go_memstats_heap_inuse_bytes", nil, 20971520},
		{"absent", nil, 0},
	} {
		if got := m.sum(c.name, c.labels...); got != c.want {
			t.Errorf("sum(%s, %v) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestFlags(t *testing.T) {
	opts, code := parseFlags([]string{"-quick", "-duration", "3s"}, io.Discard)
	if code != -1 {
		t.Fatalf("exit code %d", code)
	}
	if opts.duration != 3*time.Second || opts.warmup != 500*time.Millisecond {
		t.Errorf("duration %v warm-up %v: want the explicit 3s and quick's 500ms", opts.duration, opts.warmup)
	}
	if opts.concurrency.String() != "1,32" || opts.memory.String() != "10000" {
		t.Errorf("concurrency %s memory %s: want quick's 1,32 and 10000", opts.concurrency.String(), opts.memory.String())
	}
	for _, bad := range [][]string{{"-concurrency", "1,x"}, {"-concurrency", "0"}, {"-phases", "hits,nope"}, {"-duration", "0s"}, {"extra"}} {
		if _, code := parseFlags(bad, io.Discard); code != 2 {
			t.Errorf("parseFlags(%q) exit code %d, want 2", bad, code)
		}
	}
	if _, code := parseFlags([]string{"-h"}, io.Discard); code != 0 {
		t.Errorf("-h exit code %d, want 0", code)
	}
}

func TestRatios(t *testing.T) {
	rows := []HitRow{
		{Scenario: scenarioUser, Concurrency: 8, RPS: 500, P99US: 300},
		{Scenario: scenarioBaseline, Concurrency: 8, RPS: 1000, P99US: 100},
		{Scenario: scenarioUser, Concurrency: 32, RPS: 700, P99US: 900},
	}
	ratios(rows)
	if rows[0].RPSRatio != 0.5 || rows[0].P99Ratio != 3 {
		t.Errorf("ratios %v %v, want 0.5 and 3", rows[0].RPSRatio, rows[0].P99Ratio)
	}
	if rows[2].RPSRatio != 0 {
		t.Errorf("a row without a baseline got ratio %v", rows[2].RPSRatio)
	}
}

func TestFakeVault(t *testing.T) {
	f, err := startFakeVault("tok", "secret", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	get := func(path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.url+"/v1/"+path, nil)
		req.Header.Set("X-Vault-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("auth/token/lookup-self", "wrong"); code != http.StatusForbidden {
		t.Errorf("lookup-self with a wrong token: %d, want 403", code)
	}
	if code, body := get("auth/token/lookup-self", "tok"); code != http.StatusOK || body["data"] == nil {
		t.Errorf("lookup-self: %d %v", code, body)
	}
	code, body := get("secret/data/rpa/remote-5f-x", "tok")
	data, _ := body["data"].(map[string]any)
	inner, _ := data["data"].(map[string]any)
	if code != http.StatusOK || inner["password"] == nil || inner["username"] != "remote-5f-x" {
		t.Errorf("KV read: %d %v", code, body)
	}
	if code, _ := get("secret/data/rpa/"+healthCheckName, "tok"); code != http.StatusNotFound {
		t.Errorf("health check read: %d, want 404", code)
	}
	if code, _ := get("other/path", "tok"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if f.reads.Load() != 1 || f.healthReads.Load() != 1 {
		t.Errorf("reads %d, health reads %d: want 1 and 1", f.reads.Load(), f.healthReads.Load())
	}
}

// TestBaselineMutualTLS runs the baseline server and calls it with the
// bots' certificate, then without a certificate (refused).
func TestBaselineMutualTLS(t *testing.T) {
	p := testPKI(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runBaseline(ctx, p.dir, w); w.Close() }()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the baseline's address: %v", err)
	}
	go io.Copy(io.Discard, r)
	m := baselineLine.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		t.Fatalf("baseline printed %q", line)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	conn, err := p.dial(m[1], p.bot)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got, err := pb.NewSecretBrokerClient(conn).GetCredential(cctx, &pb.GetCredentialRequest{Locker: "bench", Credential: "erp"})
	if err != nil {
		t.Fatalf("GetCredential with the bots' certificate: %v", err)
	}
	if got.GetScope() != pb.Scope_SCOPE_USER || got.GetCredential().GetAttributes()["password"] == "" {
		t.Errorf("baseline answered %v", got)
	}
	stranger, err := testpki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf := testpki.Must(stranger.Issue(testpki.LeafOptions{CommonName: "stranger", Client: true}))
	conn2, err := p.dial(m[1], leaf)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := pb.NewSecretBrokerClient(conn2).GetCredential(cctx, &pb.GetCredentialRequest{}); err == nil {
		t.Error("the baseline served a client whose certificate its CA did not sign")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("baseline: %v", err)
	}
}

// TestPinProcess pins a child process to one CPU and reads its allowed
// CPUs back from /proc.
func TestPinProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pinning is implemented on Linux only")
	}
	_, servers, ok, why := cpuSplit()
	if !ok {
		t.Skip(why)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	want := servers[len(servers)-1]
	n, err := pinProcess(cmd.Process.Pid, []int{want})
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Fatalf("pinned %d threads", n)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "Cpus_allowed_list:"); found {
			if got := strings.TrimSpace(v); got != strconv.Itoa(want) {
				t.Errorf("Cpus_allowed_list %q, want %d", got, want)
			}
			return
		}
	}
	t.Error("no Cpus_allowed_list in /proc/PID/status")
}

func TestReadMem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	m, err := readMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.VmRSS <= 0 || m.RssAnon <= 0 || m.VmHWM < m.VmRSS {
		t.Errorf("memory %+v", m)
	}
}
