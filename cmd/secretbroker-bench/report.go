package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secretbroker/secretbroker/internal/loadgen"
)

// Targets of issue 9, printed beside the figures (never asserted).
const (
	missTargetFraction = 0.90 // of concurrency / vault delay
	singleflightTarget = 1    // vault calls for one uncached credential
	readyTarget        = 300 * time.Millisecond
	memTarget10k       = 40 << 20  // bytes of VmRSS holding 10,000 cached credentials
	memTarget100k      = 100 << 20 // bytes of VmRSS holding 100,000
)

// Report is every figure of a run; -json writes it.
type Report struct {
	StartedAt time.Time `json:"started_at"`
	Host      Host      `json:"host"`
	Settings  Settings  `json:"settings"`
	// Pinning says which CPUs the servers and the loader were pinned to.
	Pinning Pinning `json:"pinning"`
	// CacheHits has one row per concurrency and scenario.
	CacheHits []HitRow `json:"cache_hits"`
	// CacheHitStoreReads counts the store reads (cache misses) the daemon
	// made during the cache-hit loads; a handful (the first reads).
	CacheHitStoreReads float64 `json:"cache_hit_store_reads"`
	Miss               *Miss   `json:"miss,omitempty"`
	Memory             []Mem   `json:"memory,omitempty"`
	// Ready lists the times from process start to /readyz answering 200.
	Ready []Ready `json:"ready"`
}

// Host describes the machine.
type Host struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Daemon    string `json:"daemon"`
}

// Settings are the run's options.
type Settings struct {
	Quick       bool    `json:"quick"`
	WarmupMS    float64 `json:"warmup_ms"`
	DurationMS  float64 `json:"duration_ms"`
	Concurrency []int   `json:"concurrency"`
}

// Pinning says where processes ran.
type Pinning struct {
	Pinned      bool   `json:"pinned"`
	LoaderCPUs  []int  `json:"loader_cpus,omitempty"`
	ServerCPUs  []int  `json:"server_cpus,omitempty"`
	Description string `json:"description"`
}

// HitRow is one closed-loop load of one scenario at one concurrency.
type HitRow struct {
	Scenario    string  `json:"scenario"`
	Concurrency int     `json:"concurrency"`
	Requests    uint64  `json:"requests"`
	RPS         float64 `json:"rps"`
	P50US       float64 `json:"p50_us"`
	P99US       float64 `json:"p99_us"`
	MaxUS       float64 `json:"max_us"`
	// RPSRatio is RPS over the baseline's at the same concurrency; P99Ratio
	// is P99 over the baseline's.
	RPSRatio float64 `json:"rps_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
	// ServerCPUPerCallUS is the CPU time the server process (the daemon,
	// or the baseline server) spent per call during the load, warm-up
	// included; 0 when it could not be read.
	ServerCPUPerCallUS float64 `json:"server_cpu_per_call_us"`
}

// Miss holds the figures of the miss path against a slow vault.
type Miss struct {
	VaultDelayMS float64 `json:"vault_delay_ms"`
	Concurrency  int     `json:"concurrency"`
	Requests     uint64  `json:"requests"`
	RPS          float64 `json:"rps"`
	// TargetRPS is 90% of concurrency / vault delay.
	TargetRPS float64 `json:"target_rps"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	// VaultReads counts the KV reads the fake vault answered during the
	// measured window and warm-up; about one per request.
	VaultReads int64 `json:"vault_reads"`
	// VaultConnections counts the TCP connections the daemon opened to the
	// vault meanwhile (few when it keeps them alive).
	VaultConnections int64 `json:"vault_connections"`
	// DaemonCPUPerCallUS is the daemon's CPU time per request meanwhile.
	DaemonCPUPerCallUS float64 `json:"daemon_cpu_per_call_us"`
	// Singleflight: Concurrent requests for one uncached credential, and
	// the vault calls they caused (target 1).
	SingleflightRequests   int     `json:"singleflight_requests"`
	SingleflightVaultCalls int64   `json:"singleflight_vault_calls"`
	SingleflightMaxMS      float64 `json:"singleflight_max_ms"`
}

// Mem is the resident memory of a daemon holding N cached credentials.
type Mem struct {
	Credentials  int     `json:"credentials"`
	CacheEntries float64 `json:"cache_entries"`
	CacheBytes   float64 `json:"cache_bytes"`
	// Idle figures are those of the same daemon just started, before any
	// request.
	IdleRSSMiB     float64 `json:"idle_vmrss_mib"`
	IdleRssAnonMiB float64 `json:"idle_rssanon_mib"`
	IdleGoHeapMiB  float64 `json:"idle_go_heap_inuse_mib"`
	// AnonPerCredential is the growth of RssAnon from idle, in bytes per
	// credential cached.
	AnonPerCredential float64 `json:"rssanon_bytes_per_credential"`
	VmRSSMiB          float64 `json:"vmrss_mib"`
	RssAnonMiB        float64 `json:"rssanon_mib"`
	RssFileMiB        float64 `json:"rssfile_mib"`
	VmHWMMiB          float64 `json:"vmhwm_mib"`
	GoHeapMiB         float64 `json:"go_heap_inuse_mib"`
	TargetMiB         float64 `json:"target_mib,omitempty"`
	// PutPerSecond is the rate at which PutCredential stored them.
	PutPerSecond float64 `json:"put_per_second"`
}

// Ready is one measure of the time to readiness.
type Ready struct {
	What string  `json:"what"`
	MS   float64 `json:"ms"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

// hitRow makes a row of r, without ratios.
func hitRow(scenario string, r *loadgen.Result) HitRow {
	return HitRow{Scenario: scenario, Concurrency: r.Concurrency, Requests: r.Requests, RPS: r.RPS(),
		P50US: us(r.P50()), P99US: us(r.P99()), MaxUS: us(r.Latency.Max())}
}

// ratios fills in each row's ratios to the baseline row of its concurrency.
func ratios(rows []HitRow) {
	base := map[int]HitRow{}
	for _, r := range rows {
		if r.Scenario == scenarioBaseline {
			base[r.Concurrency] = r
		}
	}
	for i, r := range rows {
		b, ok := base[r.Concurrency]
		if !ok || b.RPS == 0 || b.P99US == 0 {
			continue
		}
		rows[i].RPSRatio = r.RPS / b.RPS
		rows[i].P99Ratio = r.P99US / b.P99US
	}
}

func fmtLatency(usec float64) string {
	d := time.Duration(usec * float64(time.Microsecond))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", usec)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", usec/1000)
	default:
		return fmt.Sprintf("%.2fs", usec/1e6)
	}
}

func verdict(ok bool) string {
	if ok {
		return "meets target"
	}
	return "MISSES target"
}

// print writes the report as tables.
func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "\nsecretbroker-bench, %s/%s, %d CPUs, %s; daemon %s\n", r.Host.GOOS, r.Host.GOARCH, r.Host.CPUs, r.Host.GoVersion, r.Host.Daemon)
	fmt.Fprintf(w, "pinning: %s\n", r.Pinning.Description)
	if len(r.CacheHits) > 0 {
		fmt.Fprintf(w, "\nCache hits over mTLS, closed loop, one shared connection (warm-up %s, %s measured per row)\n",
			time.Duration(r.Settings.WarmupMS*float64(time.Millisecond)), time.Duration(r.Settings.DurationMS*float64(time.Millisecond)))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "CONC\tSCENARIO\tREQ/S\tP50\tP99\tRPS/BASE\tP99/BASE\tSERVER CPU/REQ\t")
		for _, row := range r.CacheHits {
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%.2f\t%.2f\t%s\t\n", row.Concurrency, row.Scenario, row.RPS,
				fmtLatency(row.P50US), fmtLatency(row.P99US), row.RPSRatio, row.P99Ratio, fmtLatency(row.ServerCPUPerCallUS))
		}
		tw.Flush()
		fmt.Fprintf(w, "store reads (cache misses) during these loads: %.0f\n", r.CacheHitStoreReads)
	}
	if m := r.Miss; m != nil {
		fmt.Fprintf(w, "\nMiss path: hashicorp provider, fake vault answering each KV read after %.0fms\n", m.VaultDelayMS)
		fmt.Fprintf(w, "  distinct credentials at concurrency %d: %.0f req/s (target >= %.0f: %s), p50 %.1fms, p99 %.1fms\n",
			m.Concurrency, m.RPS, m.TargetRPS, verdict(m.RPS >= m.TargetRPS), m.P50MS, m.P99MS)
		fmt.Fprintf(w, "    %d requests measured; %d vault reads and %d new vault connections during warm-up and window; daemon CPU %s per request\n",
			m.Requests, m.VaultReads, m.VaultConnections, fmtLatency(m.DaemonCPUPerCallUS))
		fmt.Fprintf(w, "  %d concurrent requests for one uncached credential: %d vault call(s) (target %d: %s), all answered within %.1fms\n",
			m.SingleflightRequests, m.SingleflightVaultCalls, singleflightTarget, verdict(m.SingleflightVaultCalls == singleflightTarget), m.SingleflightMaxMS)
	}
	if len(r.Memory) > 0 {
		fmt.Fprintf(w, "\nResident memory of the daemon holding cached credentials (embedded store, audit on)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "CREDENTIALS\tCACHE ENTRIES\tVmRSS\tRssAnon\tRssFile\tGO HEAP\tIDLE VmRSS\tIDLE RssAnon\tANON/CRED\tPUT/S\tTARGET (VmRSS)\t\t")
		for _, m := range r.Memory {
			target, v := "-", ""
			if m.TargetMiB > 0 {
				target, v = fmt.Sprintf("< %.0f MiB", m.TargetMiB), verdict(m.VmRSSMiB < m.TargetMiB)
			}
			fmt.Fprintf(tw, "%d\t%.0f\t%.1f MiB\t%.1f MiB\t%.1f MiB\t%.1f MiB\t%.1f MiB\t%.1f MiB\t%.0f B\t%.0f\t%s\t%s\t\n", m.Credentials, m.CacheEntries,
				m.VmRSSMiB, m.RssAnonMiB, m.RssFileMiB, m.GoHeapMiB, m.IdleRSSMiB, m.IdleRssAnonMiB, m.AnonPerCredential, m.PutPerSecond, target, v)
		}
		tw.Flush()
	}
	if len(r.Ready) > 0 {
		fmt.Fprintf(w, "\nTime from process start to /readyz answering 200 (polled every 2ms; target <= %v on the embedded store)\n", readyTarget)
		for _, rd := range r.Ready {
			fmt.Fprintf(w, "  %-60s %7.1fms\n", rd.What, rd.MS)
		}
	}
}

// writeJSON writes the report to file.
func (r *Report) writeJSON(file string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// intList is a flag holding a comma-separated list of positive integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
