// Command secretbroker-bench measures secretbrokerd on one machine, in one
// run, against the limits that matter to a bot fleet:
//
//   - cache hits: the daemon (a separate process, production
//     configuration: mutual TLS, a policy granting the bots' certificate
//     identity, the audit trail on, the embedded store, the cache) under a
//     closed-loop load at several concurrencies, beside a bare gRPC server
//     answering a credential-sized message over the same mutual TLS (the
//     limit of a unary call), as requests per second, p50, p99 and their
//     ratios to that baseline;
//   - the miss path: a hashicorp provider against a fake Vault (in this
//     process) answering every read after 20 ms: throughput with many
//     distinct credentials, and the vault calls caused by 1,000 concurrent
//     requests for one uncached credential;
//   - resident memory of the daemon holding 10,000 and 100,000 cached
//     credentials, and the time from process start to readiness.
//
// Run it from the repository: go run ./cmd/secretbroker-bench [-quick]
// [-json FILE]. It builds the daemon once (or takes -daemon PATH), runs
// the baseline server by re-executing itself, pins the servers and the
// loader to different CPUs where there are several (Linux), and reports
// timings without asserting them: a run fails only on errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	daemon          string
	quick           bool
	warmup          time.Duration
	duration        time.Duration
	concurrency     intList
	jsonFile        string
	keep            bool
	dir             string
	vaultDelay      time.Duration
	missConcurrency int
	singleflight    int
	memory          intList
	phases          phaseSet
}

const usageText = `Usage: go run ./cmd/secretbroker-bench [flags]

Measures secretbrokerd on this machine and prints a table of the figures
(-json FILE writes them as JSON too). The daemon is built once (go build
./cmd/secretbrokerd into a temporary directory; -daemon PATH uses a built
one) and started as a separate process with a production configuration:
mutual TLS (throwaway CA), a policy granting the bots' client-certificate
identity (no token), the audit trail on (a file in its data directory), an
embedded store created on first start, the cache on, the admin listener on
127.0.0.1. Every address is loopback. Timings are reported, never asserted:
a run fails only on errors. On Linux with 2 or more CPUs the servers are
pinned to the second half of the CPUs and this process (the loader) to the
first half; the output says which.

The figures:

  Cache hits (phase "hits"), one row per concurrency and scenario:
    CONC        closed-loop workers, all on ONE shared gRPC connection; each
                sends its next call when the previous one returns
    SCENARIO    get user-defined: GetCredential served from the cache, the
                user-defined credential; get fallback to system:
                GetCredential for a user without one (a cached NotFound,
                then the cached system credential); GetAutoLoginCredential:
                cached auto-login credential; baseline: a bare gRPC server
                (this binary, re-executed) returning a prebuilt response of
                the same shape over the same mutual TLS: the limit of a
                unary call
    REQ/S       calls completed in the measured window / its length
    P50, P99    latency percentiles of those calls (log-bucket histogram,
                under 1% error), as the client sees them
    RPS/BASE    REQ/S over the baseline's at the same concurrency
    P99/BASE    P99 over the baseline's at the same concurrency
    SERVER CPU/REQ  CPU time (user and system, /proc/PID/stat) the server
                process used per call during the load: what a call costs,
                whatever else runs on the machine
    store reads the daemon's cache misses during these loads (a few: the
                first reads)

  Miss path (phase "miss"): a hashicorp provider (KV v2, token auth,
  protection max_concurrency 256) against a fake Vault in this process that
  answers every KV read after -vault-delay:
    distinct credentials   requests/s with every request for a credential
                           never asked before (each a vault read), at
                           -miss-concurrency; target 90% of concurrency /
                           delay (5,760/s for 128 and 20ms); with the vault
                           reads and new vault connections (few when the
                           daemon keeps connections alive) and the daemon's
                           CPU time per request
    one uncached credential  vault calls made for -singleflight concurrent
                           requests for the same uncached credential
                           (target exactly 1)

  Memory (phase "memory"), one row per -memory count N: a fresh daemon
  stores N user-defined credentials (PutCredential) and serves each once,
  so each is cached:
    CACHE ENTRIES  secretbroker_cache_entries of the daemon's /metrics
    VmRSS          resident memory from /proc/PID/status, then: RssAnon
                   (heap, stacks) plus RssFile (mapped files: the daemon's
                   own binary, about 18 MiB, and the store's pages)
    GO HEAP        go_memstats_heap_inuse_bytes of /metrics (live data and
                   garbage not yet collected)
    IDLE VmRSS, IDLE RssAnon  the same daemon just started, before any
                   request
    ANON/CRED      (RssAnon - IDLE RssAnon) / N: bytes per cached credential
    PUT/S          PutCredential calls per second while storing them (each
                   one a transaction of the embedded store)
    TARGET         VmRSS under 40 MiB for 10,000, under 100 MiB for 100,000

  Ready: time from starting the process to /readyz answering 200 (polled
  every 2ms), for each daemon started: new embedded store, the store again
  holding N credentials (a restart), and with the hashicorp provider.
  Target: 300ms on the embedded store.

Flags:
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveBaselineFlag {
		os.Exit(serveBaseline(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parseFlags parses args; code is -1 to go on, else the exit code.
func parseFlags(args []string, stderr io.Writer) (opts options, code int) {
	fs := flag.NewFlagSet("secretbroker-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	opts.concurrency = intList{1, 8, 32, 128}
	opts.memory = intList{10000, 100000}
	opts.phases = phaseSet{"hits": true, "miss": true, "memory": true}
	fs.StringVar(&opts.daemon, "daemon", "", "secretbrokerd binary to run (default: go build ./cmd/secretbrokerd into the temporary directory)")
	fs.BoolVar(&opts.quick, "quick", false, "a short run (under a minute once built): concurrency 1,32, warm-up 500ms, 2s per row, memory 10000 only; flags given explicitly still apply")
	fs.DurationVar(&opts.warmup, "warmup", 2*time.Second, "warm-up of each load, not measured")
	fs.DurationVar(&opts.duration, "duration", 10*time.Second, "measured window of each load")
	fs.Var(&opts.concurrency, "concurrency", "comma-separated concurrencies of the cache-hit loads")
	fs.StringVar(&opts.jsonFile, "json", "", "also write the figures to this file as JSON")
	fs.BoolVar(&opts.keep, "keep", false, "keep the temporary directory (data directories, audit files, configurations, certificates)")
	fs.StringVar(&opts.dir, "dir", "", "where to create the temporary directory (default: the system's)")
	fs.DurationVar(&opts.vaultDelay, "vault-delay", 20*time.Millisecond, "delay of the fake vault's answers to KV reads (miss path)")
	fs.IntVar(&opts.missConcurrency, "miss-concurrency", 128, "concurrency of the miss-path load")
	fs.IntVar(&opts.singleflight, "singleflight", 1000, "concurrent requests for one uncached credential")
	fs.Var(&opts.memory, "memory", "comma-separated counts of cached credentials to measure memory with")
	fs.Var(&opts.phases, "phases", "comma-separated phases to run: hits, miss, memory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, 0
		}
		return opts, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "secretbroker-bench: unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		return opts, 2
	}
	if opts.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["concurrency"] {
			opts.concurrency = intList{1, 32}
		}
		if !set["warmup"] {
			opts.warmup = 500 * time.Millisecond
		}
		if !set["duration"] {
			opts.duration = 2 * time.Second
		}
		if !set["memory"] {
			opts.memory = intList{10000}
		}
	}
	switch {
	case opts.duration <= 0:
		fmt.Fprintln(stderr, "secretbroker-bench: -duration must be positive")
		return opts, 2
	case opts.warmup < 0:
		fmt.Fprintln(stderr, "secretbroker-bench: -warmup must not be negative")
		return opts, 2
	case opts.missConcurrency < 1 || opts.singleflight < 1:
		fmt.Fprintln(stderr, "secretbroker-bench: -miss-concurrency and -singleflight must be at least 1")
		return opts, 2
	case opts.vaultDelay <= 0:
		fmt.Fprintln(stderr, "secretbroker-bench: -vault-delay must be positive")
		return opts, 2
	}
	return opts, -1
}

// run runs the bench and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp(opts.dir, "secretbroker-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "secretbroker-bench: %v\n", err)
		return 1
	}
	b := &bench{opts: opts, tmp: tmp, log: stderr, ps: &procs{},
		report: &Report{StartedAt: time.Now().UTC(), Host: Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()},
			Settings: Settings{Quick: opts.quick, WarmupMS: ms(opts.warmup), DurationMS: ms(opts.duration), Concurrency: opts.concurrency}}}
	err = b.run(ctx)
	if serr := b.ps.stopAll(); err == nil && serr != nil {
		err = serr
	}
	if opts.keep {
		fmt.Fprintf(stderr, "kept %s\n", tmp)
	} else if rerr := os.RemoveAll(tmp); rerr != nil {
		fmt.Fprintf(stderr, "secretbroker-bench: removing %s: %v\n", tmp, rerr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "secretbroker-bench: %v\n", err)
		return 1
	}
	b.report.print(stdout)
	if opts.jsonFile != "" {
		if err := b.report.writeJSON(opts.jsonFile); err != nil {
			fmt.Fprintf(stderr, "secretbroker-bench: %v\n", err)
			return 1
		}
		abs, _ := filepath.Abs(opts.jsonFile)
		fmt.Fprintf(stdout, "\nJSON: %s\n", abs)
	}
	return 0
}
