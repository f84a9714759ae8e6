package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/secretbroker/secretbroker/internal/daemontest"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers/aws/awstest"
)

func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadinessFollowsTheVault: /readyz and the gRPC health service turn
// unready when a provider's vault fails its checks, and ready again after.
func TestReadinessFollowsTheVault(t *testing.T) {
	aws := awstest.NewServer(t, awstest.Options{})
	aws.Seed("rpa/accounting_pdf", `{"password":"pw"}`)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ops.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  health_check_interval: 100ms
  health_grace: 0s
providers:
  aws-prod:
    aws: {region: %s, endpoint: %s, name_path: rpa/}
    protection: {max_attempts: 1}
lockers:
  finance: {provider: aws-prod, prefix: accounting}
`, aws.Region(), aws.URL())), 0o600)
	d := daemontest.Start(t, binary, aws.Env(), "-config", cfg, "-data-dir", dir, "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0")
	ready := "http://" + d.AdminAddr + "/readyz"
	health := healthpb.NewHealthClient(daemontest.Dial(t, d.Addr))
	provider := func() healthpb.HealthCheckResponse_ServingStatus {
		h, err := health.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "secretbroker.provider.aws-prod"})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return h.Status
	}
	waitFor(t, "ready", func() bool { code, _ := httpStatus(t, ready); return code == 200 })
	if code, body := httpStatus(t, "http://"+d.AdminAddr+"/healthz"); code != 200 {
		t.Fatalf("healthz %d %s", code, body)
	}
	aws.SetFault(awstest.InternalError)
	waitFor(t, "unready", func() bool { code, _ := httpStatus(t, ready); return code == 503 })
	if _, body := httpStatus(t, ready); !strings.Contains(body, `"aws-prod":{"ready":false,"code":"Unavailable"`) {
		t.Fatalf("readyz body %s", body)
	}
	if s := provider(); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health of the provider: %v", s)
	}
	aws.SetFault(awstest.NoFault)
	waitFor(t, "ready again", func() bool { code, _ := httpStatus(t, ready); return code == 200 })
	waitFor(t, "provider SERVING", func() bool { return provider() == healthpb.HealthCheckResponse_SERVING })
	d.Stop(t)
}

// TestReloadUnderLoad: SIGHUP swaps the configuration while requests run,
// and none of them fails; a bad file is refused and the old configuration
// keeps serving; metrics count both.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "reload.yaml")
	write := func(extra string) {
		os.WriteFile(cfg, []byte(`providers:
  store:
    embedded: {path: store.db, key_file: store.key, create: true}
lockers:
  demo: {provider: store, prefix: demo}
`+extra), 0o600)
	}
	write("")
	d := start(t, "-config", cfg, "-data-dir", dir, "-listen", "127.0.0.1:0")
	c := pb.NewSecretBrokerClient(dial(t, d.Addr, dir))
	if _, err := c.PutCredential(ctx(t), &pb.PutCredentialRequest{Locker: "demo", Credential: "erp", Attributes: map[string]string{"password": "pw"}}); err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp"}); err != nil {
					failed.Add(1)
					t.Errorf("request during reload: %v", err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		write(fmt.Sprintf("  extra%d: {provider: store, prefix: x%d}\n", i, i))
		d.Signal(t, syscall.SIGHUP)
		waitFor(t, fmt.Sprintf("reload %d", i+1), func() bool {
			ls, err := c.ListLockers(ctx(t), &pb.ListLockersRequest{})
			return err == nil && len(ls.Lockers) == 2 && ls.Lockers[1].Name == fmt.Sprintf("extra%d", i)
		})
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed, %d succeeded during reloads", failed.Load(), ok.Load())
	}
	// A bad configuration is refused; the old one keeps serving.
	os.WriteFile(cfg, []byte("providers: [\n"), 0o600)
	d.Signal(t, syscall.SIGHUP)
	waitFor(t, "the refusal in the log", func() bool { return strings.Contains(d.Logs(), "configuration not reloaded") })
	ls, err := c.ListLockers(ctx(t), &pb.ListLockersRequest{})
	if err != nil || len(ls.Lockers) != 2 || ls.Lockers[1].Name != "extra4" {
		t.Fatalf("after a bad reload: %v %v", ls, err)
	}
	// The admin RPC reloads too (and reports the refusal of a bad file).
	_, err = c.ReloadConfig(ctx(t), &pb.ReloadConfigRequest{})
	wantCode(t, err, codes.FailedPrecondition, "not reloaded")
	write("")
	r, err := c.ReloadConfig(ctx(t), &pb.ReloadConfigRequest{})
	if err != nil || r.ProvidersKept != 1 || r.ProvidersBuilt != 0 {
		t.Fatalf("ReloadConfig: %v %v", r, err)
	}
	_, metrics := httpStatus(t, "http://"+d.AdminAddr+"/metrics")
	for _, want := range []string{`secretbroker_config_reloads_total{result="success"} 6`, `secretbroker_config_reloads_total{result="failure"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	d.Stop(t)
}

// TestCheckConfigReportsEveryError: -check-config lists every mistake of a
// file at once, each with its line.
func TestCheckConfigReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte(`server:
  listen: 0.0.0.0:7787
  log_level: loud
providers:
  store:
    embedded: {path: s.db, key_file: s.key}
    cache: {ttl: -1s}
lockers:
  demo: {provider: store}
  gl: {provider: nope, prefix: gl}
`), 0o600)
	code, stderr := run(t, "-config", cfg, "-check-config")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"bad.yaml:2: server.listen", "bad.yaml:3: server.log_level", "bad.yaml:7: provider \"store\": cache", "bad.yaml:9:", "bad.yaml:10:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
