package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretbroker/secretbroker/internal/loadgen"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// Scenario names of the cache-hit table.
const (
	scenarioUser      = "get user-defined"
	scenarioFallback  = "get fallback to system"
	scenarioAutoLogin = "GetAutoLoginCredential"
	scenarioBaseline  = "baseline (bare gRPC)"
)

// The credentials of the cache-hit loads.
const (
	hitLocker     = "bench"
	hitCredential = "erp"
	hitUser       = `ABCD\user000001`
	hitNobody     = `ABCD\nobody`
)

// callTimeout bounds every call of a load.
const callTimeout = 30 * time.Second

// bench is one run.
type bench struct {
	opts   options
	tmp    string
	log    io.Writer // progress
	ps     *procs
	pki    *pki
	bin    string
	report *Report

	pinned             bool
	loaderCPUs, server []int
	pinLogged          map[int]int // threads pinned at the last logged pass, by pid
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "secretbroker-bench: "+format+"\n", args...)
}

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.pki, err = newPKI(filepath.Join(b.tmp, "pki")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	b.bin = b.opts.daemon
	if b.bin == "" {
		b.logf("building secretbrokerd")
		if b.bin, err = buildDaemon(ctx, b.tmp); err != nil {
			return err
		}
	}
	b.report.Host.Daemon = b.bin
	if err := b.pinLoader(); err != nil {
		return err
	}
	if b.opts.phases["hits"] {
		if err := b.cacheHits(ctx); err != nil {
			return fmt.Errorf("cache hits: %w", err)
		}
	}
	if b.opts.phases["miss"] {
		if err := b.missPath(ctx); err != nil {
			return fmt.Errorf("miss path: %w", err)
		}
	}
	if b.opts.phases["memory"] {
		for _, n := range b.opts.memory {
			if err := b.memory(ctx, n); err != nil {
				return fmt.Errorf("memory with %d credentials: %w", n, err)
			}
		}
	}
	return nil
}

// pinLoader splits the CPUs and pins this process's threads to the
// loader's share.
func (b *bench) pinLoader() error {
	loader, servers, ok, why := cpuSplit()
	if !ok {
		b.report.Pinning = Pinning{Description: why}
		return nil
	}
	n, err := pinProcess(os.Getpid(), loader)
	if err != nil {
		return err
	}
	b.pinned, b.loaderCPUs, b.server = true, loader, servers
	b.report.Pinning = Pinning{Pinned: true, LoaderCPUs: loader, ServerCPUs: servers,
		Description: fmt.Sprintf("loader (this process, %d threads, the fake vault included) on CPU %s; servers on CPU %s", n, cpuList(loader), cpuList(servers))}
	return nil
}

// pinServer pins every thread of p to the servers' CPUs and notes it.
func (b *bench) pinServer(p *proc) error {
	if !b.pinned {
		return nil
	}
	n, err := pinProcess(p.pid(), b.server)
	if err != nil {
		return err
	}
	if b.pinLogged == nil {
		b.pinLogged = map[int]int{}
	}
	if b.pinLogged[p.pid()] != n {
		b.pinLogged[p.pid()] = n
		b.logf("pinned %s (pid %d, %d threads) to CPU %s", p.name, p.pid(), n, cpuList(b.server))
	}
	return nil
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, ",")
}

// cacheHits runs the cache-hit scenarios and the baseline at each
// concurrency.
func (b *bench) cacheHits(ctx context.Context) error {
	b.logf("cache hits: starting secretbrokerd and the baseline server")
	d, err := startDaemon(ctx, b.ps, b.bin, filepath.Join(b.tmp, "hits"), daemonConfig{pki: b.pki, maxEntries: 10000})
	if err != nil {
		return err
	}
	b.report.Ready = append(b.report.Ready, Ready{What: "new embedded store (cache-hit daemon)", MS: ms(d.ready)})
	base, baseAddr, err := startBaseline(ctx, b.ps, b.pki)
	if err != nil {
		return err
	}
	admin, err := b.pki.dial(d.addr, b.pki.admin)
	if err != nil {
		return err
	}
	defer admin.Close()
	conn, err := b.pki.dial(d.addr, b.pki.bot)
	if err != nil {
		return err
	}
	defer conn.Close()
	baseConn, err := b.pki.dial(baseAddr, b.pki.bot)
	if err != nil {
		return err
	}
	defer baseConn.Close()

	if err := seedHits(ctx, pb.NewSecretBrokerClient(admin)); err != nil {
		return err
	}
	client, baseline := pb.NewSecretBrokerClient(conn), pb.NewSecretBrokerClient(baseConn)
	userReq := &pb.GetCredentialRequest{Locker: hitLocker, Credential: hitCredential, Username: hitUser}
	fallbackReq := &pb.GetCredentialRequest{Locker: hitLocker, Credential: hitCredential, Username: hitNobody}
	loginReq := &pb.GetAutoLoginCredentialRequest{Username: hitUser}
	type scenario struct {
		name   string
		server *proc
		op     loadgen.Op
	}
	getCred := func(c pb.SecretBrokerClient, req *pb.GetCredentialRequest, want pb.Scope) loadgen.Op {
		return func(ctx context.Context, _ int, _ uint64) error {
			r, err := c.GetCredential(ctx, req)
			if err == nil && r.GetScope() != want {
				return fmt.Errorf("served scope %v, want %v", r.GetScope(), want)
			}
			return err
		}
	}
	scenarios := []scenario{
		{scenarioBaseline, base, getCred(baseline, userReq, pb.Scope_SCOPE_USER)},
		{scenarioUser, d.proc, getCred(client, userReq, pb.Scope_SCOPE_USER)},
		{scenarioFallback, d.proc, getCred(client, fallbackReq, pb.Scope_SCOPE_SYSTEM)},
		{scenarioAutoLogin, d.proc, func(ctx context.Context, _ int, _ uint64) error {
			r, err := client.GetAutoLoginCredential(ctx, loginReq)
			if err == nil && r.GetCredential().GetAttributes()["password"] == "" {
				return fmt.Errorf("the auto-login credential has no password")
			}
			return err
		}},
	}
	// A first call of each fills the cache and checks what is served.
	for _, s := range scenarios {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := s.op(cctx, 0, 0)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	before, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	for _, c := range b.opts.concurrency {
		for _, s := range scenarios {
			// Threads started since the last pass inherit the affinity of
			// pinned threads; passing again costs little and checks it.
			if err := b.pinServer(d.proc); err != nil {
				return err
			}
			if err := b.pinServer(base); err != nil {
				return err
			}
			b.logf("cache hits: concurrency %d: %s", c, s.name)
			cpu := startCPU(s.server.pid())
			res, err := loadgen.Run(ctx, loadgen.Options{Concurrency: c, Warmup: b.opts.warmup, Duration: b.opts.duration, CallTimeout: callTimeout}, s.op)
			if err != nil {
				return fmt.Errorf("%s at concurrency %d: %w", s.name, c, err)
			}
			row := hitRow(s.name, res)
			row.ServerCPUPerCallUS = us(cpu.perCall(res.Calls))
			b.report.CacheHits = append(b.report.CacheHits, row)
		}
	}
	ratios(b.report.CacheHits)
	after, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	b.report.CacheHitStoreReads = after.sum("secretbroker_cache_misses_total") - before.sum("secretbroker_cache_misses_total")
	if err := d.stop(); err != nil {
		return err
	}
	b.ps.forget(d.proc)
	if err := base.stop(); err != nil {
		return err
	}
	b.ps.forget(base)
	return nil
}

// seedHits stores the credentials the cache-hit scenarios read: the
// locker's system credential, one user's user-defined credential and that
// user's auto-login credential.
func seedHits(ctx context.Context, admin pb.SecretBrokerClient) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, req := range []*pb.PutCredentialRequest{
		{Locker: hitLocker, Credential: hitCredential, Attributes: typicalCredential("erp-system")},
		{Locker: hitLocker, Credential: hitCredential, Username: hitUser, Attributes: typicalCredential("user000001")},
		{AutoLogin: true, Username: hitUser, Attributes: typicalCredential("user000001")},
	} {
		if _, err := admin.PutCredential(ctx, req); err != nil {
			return fmt.Errorf("storing %s/%s for %q (auto-login %v): %w", req.Locker, req.Credential, req.Username, req.AutoLogin, err)
		}
	}
	return nil
}

// missPath measures the daemon in front of a slow vault.
func (b *bench) missPath(ctx context.Context) error {
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	token := hex.EncodeToString(tok)
	tokenFile := filepath.Join(b.tmp, "vault-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	fv, err := startFakeVault(token, "secret", b.opts.vaultDelay)
	if err != nil {
		return err
	}
	defer fv.close()
	b.logf("miss path: starting secretbrokerd with a hashicorp provider (fake vault at %s, %v per read)", fv.url, b.opts.vaultDelay)
	d, err := startDaemon(ctx, b.ps, b.bin, filepath.Join(b.tmp, "miss"),
		daemonConfig{pki: b.pki, vaultAddr: fv.url, vaultTokenFile: tokenFile, maxEntries: 1_000_000})
	if err != nil {
		return err
	}
	b.report.Ready = append(b.report.Ready, Ready{What: fmt.Sprintf("with a hashicorp provider (its check answers after %v)", b.opts.vaultDelay), MS: ms(d.ready)})
	if err := b.pinServer(d.proc); err != nil {
		return err
	}
	conn, err := b.pki.dial(d.addr, b.pki.bot)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := pb.NewSecretBrokerClient(conn)

	m := &Miss{VaultDelayMS: ms(b.opts.vaultDelay), Concurrency: b.opts.missConcurrency,
		TargetRPS: missTargetFraction * float64(b.opts.missConcurrency) / b.opts.vaultDelay.Seconds(), SingleflightRequests: b.opts.singleflight}
	b.logf("miss path: distinct credentials at concurrency %d", m.Concurrency)
	reads0, conns0 := fv.reads.Load(), fv.conns.Load()
	cpu := startCPU(d.pid())
	res, err := loadgen.Run(ctx, loadgen.Options{Concurrency: m.Concurrency, Warmup: b.opts.warmup, Duration: b.opts.duration, CallTimeout: callTimeout},
		func(ctx context.Context, w int, seq uint64) error {
			// A credential nobody asked for before: a cache miss, one read.
			_, err := client.GetCredential(ctx, &pb.GetCredentialRequest{Locker: "remote", Credential: fmt.Sprintf("w%dn%d", w, seq)})
			return err
		})
	if err != nil {
		return err
	}
	m.Requests, m.RPS, m.P50MS, m.P99MS = res.Requests, res.RPS(), ms(res.P50()), ms(res.P99())
	m.VaultReads, m.VaultConnections = fv.reads.Load()-reads0, fv.conns.Load()-conns0
	m.DaemonCPUPerCallUS = us(cpu.perCall(res.Calls))

	b.logf("miss path: %d concurrent requests for one uncached credential", b.opts.singleflight)
	reads0 = fv.reads.Load()
	longest, err := concurrentSame(ctx, client, b.opts.singleflight)
	if err != nil {
		return err
	}
	m.SingleflightVaultCalls = fv.reads.Load() - reads0
	m.SingleflightMaxMS = ms(longest)
	b.report.Miss = m
	if err := d.stop(); err != nil {
		return err
	}
	b.ps.forget(d.proc)
	return nil
}

// concurrentSame sends n requests for the same uncached credential at
// once (each waits for the others to be ready to send) and returns the
// longest time one took.
func concurrentSame(ctx context.Context, client pb.SecretBrokerClient, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req := &pb.GetCredentialRequest{Locker: "remote", Credential: "singleflight"}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		first   error
		longest time.Duration
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			_, err := client.GetCredential(ctx, req)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			longest = max(longest, took)
		}()
	}
	close(start)
	wg.Wait()
	return longest, first
}

// memory measures the resident memory of a fresh daemon holding n cached
// credentials, then its time to readiness when restarted on that store.
func (b *bench) memory(ctx context.Context, n int) error {
	dir := filepath.Join(b.tmp, fmt.Sprintf("memory-%d", n))
	cfg := daemonConfig{pki: b.pki, maxEntries: 2*n + 1000}
	b.logf("memory: starting secretbrokerd for %d credentials", n)
	d, err := startDaemon(ctx, b.ps, b.bin, dir, cfg)
	if err != nil {
		return err
	}
	b.report.Ready = append(b.report.Ready, Ready{What: fmt.Sprintf("new embedded store (memory daemon, %d)", n), MS: ms(d.ready)})
	if err := b.pinServer(d.proc); err != nil {
		return err
	}
	idle, err := readMem(d.pid())
	if err != nil {
		return err
	}
	idleMet, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	admin, err := b.pki.dial(d.addr, b.pki.admin)
	if err != nil {
		return err
	}
	defer admin.Close()
	conn, err := b.pki.dial(d.addr, b.pki.bot)
	if err != nil {
		return err
	}
	defer conn.Close()
	ac, bc := pb.NewSecretBrokerClient(admin), pb.NewSecretBrokerClient(conn)
	user := func(i int) string { return fmt.Sprintf(`ABCD\user%06d`, i) }

	b.logf("memory: storing %d credentials", n)
	t0 := time.Now()
	err = forEach(ctx, n, 32, func(ctx context.Context, i int) error {
		_, err := ac.PutCredential(ctx, &pb.PutCredentialRequest{Locker: hitLocker, Credential: "app", Username: user(i),
			Attributes: typicalCredential(fmt.Sprintf("user%06d", i))})
		return err
	})
	if err != nil {
		return fmt.Errorf("storing: %w", err)
	}
	putRate := float64(n) / time.Since(t0).Seconds()
	b.logf("memory: reading each once")
	err = forEach(ctx, n, 32, func(ctx context.Context, i int) error {
		r, err := bc.GetCredential(ctx, &pb.GetCredentialRequest{Locker: hitLocker, Credential: "app", Username: user(i)})
		if err == nil && r.GetScope() != pb.Scope_SCOPE_USER {
			return fmt.Errorf("served scope %v, want the user-defined credential", r.GetScope())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("reading: %w", err)
	}
	mem, err := readMem(d.pid())
	if err != nil {
		return err
	}
	met, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	row := Mem{Credentials: n, CacheEntries: met.sum("secretbroker_cache_entries"), CacheBytes: met.sum("secretbroker_cache_bytes"),
		IdleRSSMiB: mib(idle.VmRSS), IdleRssAnonMiB: mib(idle.RssAnon), IdleGoHeapMiB: idleMet.sum("go_memstats_heap_inuse_bytes") / (1 << 20),
		AnonPerCredential: float64(mem.RssAnon-idle.RssAnon) / float64(n), VmRSSMiB: mib(mem.VmRSS), RssAnonMiB: mib(mem.RssAnon), RssFileMiB: mib(mem.RssFile), VmHWMMiB: mib(mem.VmHWM),
		GoHeapMiB: met.sum("go_memstats_heap_inuse_bytes") / (1 << 20), PutPerSecond: putRate}
	switch n {
	case 10_000:
		row.TargetMiB = mib(memTarget10k)
	case 100_000:
		row.TargetMiB = mib(memTarget100k)
	}
	b.report.Memory = append(b.report.Memory, row)
	if err := d.stop(); err != nil {
		return err
	}
	b.ps.forget(d.proc)

	b.logf("memory: restarting secretbrokerd on the store of %d credentials", n)
	d, err = startDaemon(ctx, b.ps, b.bin, dir, cfg)
	if err != nil {
		return err
	}
	b.report.Ready = append(b.report.Ready, Ready{What: fmt.Sprintf("restart on the embedded store holding %d credentials", n), MS: ms(d.ready)})
	if err := d.stop(); err != nil {
		return err
	}
	b.ps.forget(d.proc)
	return nil
}

// forEach calls fn for 0..n-1 from workers goroutines and returns the
// first error (the others stop taking work then).
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				cctx, ccancel := context.WithTimeout(ctx, callTimeout)
				err := fn(cctx, i)
				ccancel()
				if err != nil {
					once.Do(func() { first = fmt.Errorf("item %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// phaseSet is a flag holding a set of phase names.
type phaseSet map[string]bool

func (p *phaseSet) String() string {
	var names []string
	for k, v := range *p {
		if v {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (p *phaseSet) Set(v string) error {
	out := phaseSet{}
	for _, f := range strings.Split(v, ",") {
		switch f = strings.TrimSpace(f); f {
		case "hits", "miss", "memory":
			out[f] = true
		default:
			return fmt.Errorf("phase %q is not known (hits, miss, memory)", f)
		}
	}
	*p = out
	return nil
}
