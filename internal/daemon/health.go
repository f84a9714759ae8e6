package daemon

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/secretbroker/secretbroker/internal/catalog"
	"github.com/secretbroker/secretbroker/internal/config"
	"github.com/secretbroker/secretbroker/internal/metrics"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cache"
)

// ProviderHealthService is the gRPC health service name of provider NAME:
// "secretbroker.provider.NAME".
const ProviderHealthService = "secretbroker.provider."

// healthLoop checks every provider's vault at the configured interval and
// sets readiness: every provider healthy at its last check, or healthy
// within the grace, and the audit trail writable.
func (d *daemon) healthLoop(ctx context.Context) {
	for {
		d.checkAll(ctx)
		cfg := d.current.Load()
		interval := cfg.Server.HealthCheckInterval
		if interval <= 0 {
			interval = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (d *daemon) checkAll(ctx context.Context) {
	cfg := d.current.Load()
	grace := 30 * time.Second
	if cfg.Server.HealthGrace != nil {
		grace = *cfg.Server.HealthGrace
	}
	entries := d.cat.Entries()
	results := make([]error, len(entries))
	done := make(chan struct{}, len(entries))
	for i, e := range entries {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			results[i] = e.Check(cctx)
			done <- struct{}{}
		}()
	}
	for range entries {
		<-done
	}
	now := time.Now()
	ready := true
	d.provMu.Lock()
	if d.lastOK == nil {
		d.lastOK, d.provState = map[string]time.Time{}, map[string]error{}
	}
	if d.provReady == nil {
		d.provReady = map[string]bool{}
	}
	for i, e := range entries {
		err := results[i]
		prev, seen := d.provState[e.Name]
		d.provState[e.Name] = err
		if err == nil {
			d.lastOK[e.Name] = now
		} else if !seen || prev == nil {
			d.log.Warn("provider check failed", "provider", e.Name, "code", providers.CodeOf(err).String(), "error", err)
		}
		ok := err == nil || (!d.lastOK[e.Name].IsZero() && now.Sub(d.lastOK[e.Name]) <= grace)
		d.provReady[e.Name] = ok
		d.metrics.ProviderReady(e.Name, ok)
		status := healthpb.HealthCheckResponse_SERVING
		if !ok {
			status = healthpb.HealthCheckResponse_NOT_SERVING
			ready = false
		}
		d.health.SetServingStatus(ProviderHealthService+e.Name, status)
	}
	d.provMu.Unlock()
	if d.audit.Healthy() != nil {
		ready = false
	}
	d.setServing(ready)
}

func (d *daemon) setServing(ready bool) {
	d.ready.Store(ready)
	if d.health == nil {
		return
	}
	status := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		status = healthpb.HealthCheckResponse_SERVING
	}
	d.health.SetServingStatus("", status)
	d.health.SetServingStatus(pb.SecretBroker_ServiceDesc.ServiceName, status)
}

// readyz answers 200 when ready, 503 otherwise, with the state of each
// provider and of the audit trail as JSON: codes only. It needs no
// credentials, so not even a provider's caller-safe reason (which may name
// a mount or a Safe) is shown; the log has the details.
func (d *daemon) readyz(w http.ResponseWriter, r *http.Request) {
	type prov struct {
		Ready bool   `json:"ready"`
		Code  string `json:"code"`
	}
	out := struct {
		Ready     bool            `json:"ready"`
		Config    string          `json:"config"`
		Audit     string          `json:"audit"`
		Providers map[string]prov `json:"providers"`
	}{Ready: d.ready.Load(), Config: d.current.Load().File(), Audit: "ok", Providers: map[string]prov{}}
	if d.audit.Healthy() != nil {
		out.Audit = "failing"
	}
	d.provMu.Lock()
	for name, err := range d.provState {
		out.Providers[name] = prov{Ready: d.provReady[name], Code: providers.CodeOf(err).String()}
	}
	d.provMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !out.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(out)
}

// catalogObserver plugs the metrics into every provider stack.
type catalogObserver struct{ m *metrics.Metrics }

func (o catalogObserver) Middleware(p string) providers.Middleware { return o.m.Middleware(p) }
func (o catalogObserver) CacheObserver(p string) cache.Observer    { return o.m.CacheObserver(p) }
func (o catalogObserver) ProtectionObserver(p string) catalog.ProtectionObserver {
	return o.m.ResilienceObserver(p)
}

// loadMapping merges the auto-login mapping of the configuration with the
// rows of its mapping file (Automation Anywhere's custom secrets mapping:
// CSV, username then secret name, an optional header row).
func loadMapping(al *config.AutoLogin, dataDir string) (map[string]string, error) {
	if al.MappingFile == "" {
		return al.Mapping, nil
	}
	m := make(map[string]string, len(al.Mapping))
	for k, v := range al.Mapping {
		m[k] = v
	}
	f, err := os.Open(config.InDir(dataDir, al.MappingFile))
	if err != nil {
		return nil, fmt.Errorf("autologin.mapping_file: %w", err)
	}
	defer f.Close()
	rows, err := ReadMappingCSV(f)
	if err != nil {
		return nil, fmt.Errorf("autologin.mapping_file %s: %w", al.MappingFile, err)
	}
	for u, n := range rows {
		if prev, dup := m[u]; dup && prev != n {
			return nil, fmt.Errorf("autologin.mapping_file %s: user %q is mapped twice (%q and %q)", al.MappingFile, u, prev, n)
		}
		m[u] = n
	}
	return m, nil
}

// ReadMappingCSV reads a custom secrets mapping: rows of username and
// secret name; a first row whose first cell is "username" (any case) is a
// header.
func ReadMappingCSV(r io.Reader) (map[string]string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	out := map[string]string{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "username") {
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 2 || rec[0] == "" || strings.TrimSpace(rec[1]) == "" {
			return nil, fmt.Errorf("line %d: want two cells, username and secret name", line)
		}
		if _, dup := out[rec[0]]; dup {
			return nil, fmt.Errorf("line %d: user %q is listed twice", line, rec[0])
		}
		out[rec[0]] = strings.TrimSpace(rec[1])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
