package integration

// The cache, the backend protection and failover of issue 7, against the
// real Vault server: the vault is stopped and restarted by a switchable
// loopback proxy in front of it.

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/policy"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cache"
	"github.com/secretbroker/secretbroker/providers/hashicorp"
	"github.com/secretbroker/secretbroker/providers/providertest"
	"github.com/secretbroker/secretbroker/providers/resilience"
)

// switchProxy forwards a loopback port to the Vault server; Stop makes the
// vault unreachable (the port refuses connections, open ones are cut) and
// Start brings it back on the same port.
type switchProxy struct {
	t      *testing.T
	addr   string // 127.0.0.1:port
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	p := &switchProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

func (p *switchProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *switchProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// Stop closes the port and every connection through it.
func (p *switchProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Start listens on the same port again.
func (p *switchProxy) Start() {
	var ln net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// counting counts the reads that reach the driver.
type counting struct {
	providers.Provider
	gets atomic.Int64
}

func (c *counting) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	c.gets.Add(1)
	return c.Provider.Get(ctx, ref)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestVaultCacheProtectionFailover(t *testing.T) {
	s := startVault(t)
	putKV2(t, s, "rpa/accounting_erp", map[string]any{"username": "svc", "password": "v1"})
	proxy := newSwitchProxy(t, s.addr[len("http://"):])
	cfg := hashicorp.Config{Address: "http://" + proxy.addr, Mount: "kv2", Path: "rpa", KVVersion: 2, Writable: true,
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodToken, TokenFile: writeFile(t, "token", s.token)}}
	driver := &counting{Provider: newProvider(t, cfg, nil)}
	clock := &fakeClock{now: time.Now()}
	c, err := cache.New(cache.Options{TTL: time.Minute, NegativeTTL: time.Second, MaxEntries: 1000, StaleGrace: 10 * time.Minute, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	var smu sync.Mutex
	protect, err := resilience.New(resilience.Options{Name: "vault", Timeout: 2 * time.Second,
		Observer: stateRecorder(func(s string) { smu.Lock(); states = append(states, s); smu.Unlock() }),
		Retry:    &resilience.RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		Limit:    &resilience.LimitOptions{MaxInFlight: 16, MaxWaiting: 2000},
		Breaker:  &resilience.BreakerOptions{Failures: 3, CoolDown: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	stack := providers.Chain(driver, c.Middleware(), protect)
	ctx := testCtx(t)
	ref := providers.Ref{Name: "accounting_erp"}

	// 1,000 concurrent first requests: one vault call.
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := stack.Get(ctx, ref); err != nil || s.Attributes["password"] != "v1" {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 || driver.gets.Load() != 1 {
		t.Fatalf("%d failed, %d vault calls; want 0 and exactly 1", failed.Load(), driver.gets.Load())
	}

	// A bypass read reaches the vault and refreshes the cache.
	putKV2(t, s, "rpa/accounting_erp", map[string]any{"username": "svc", "password": "v2"})
	if got, _ := stack.Get(ctx, ref); got.Attributes["password"] != "v1" {
		t.Fatal("not served from the cache")
	}
	if got, err := stack.Get(ctx, providers.Ref{Name: ref.Name, Fresh: true}); err != nil || got.Attributes["password"] != "v2" {
		t.Fatalf("bypass: %v %v", got, err)
	}
	// A write through the stack invalidates.
	if err := stack.Put(ctx, ref, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": "v3"}}); err != nil {
		t.Fatal(err)
	}
	before := driver.gets.Load()
	if got, err := stack.Get(ctx, ref); err != nil || got.Attributes["password"] != "v3" || driver.gets.Load() != before+1 {
		t.Fatalf("after a write: %v %v, %d vault calls", got, err, driver.gets.Load()-before)
	}

	// The vault stops: within the grace the cached value is served, marked
	// stale; the breaker opens and answers without calling the vault.
	proxy.Stop()
	clock.Add(2 * time.Minute) // past the TTL, within the grace
	got, err := stack.Get(ctx, ref)
	if err != nil || !got.Stale || got.Attributes["password"] != "v3" {
		t.Fatalf("vault down, within grace: %v %v", got, err)
	}
	for i := 0; i < 5; i++ {
		stack.Get(ctx, providers.Ref{Name: "accounting_other"})
	}
	open := driver.gets.Load()
	_, err = stack.Get(ctx, providers.Ref{Name: "accounting_other"})
	if providers.CodeOf(err) != providers.Unavailable || driver.gets.Load() != open {
		t.Fatalf("open circuit: %v, %d vault calls", err, driver.gets.Load()-open)
	}
	// Past the grace: Unavailable.
	clock.Add(time.Hour)
	if _, err := stack.Get(ctx, ref); providers.CodeOf(err) != providers.Unavailable {
		t.Fatalf("past the grace: %v, want Unavailable", err)
	}

	// The vault comes back: the breaker half-opens after its cool-down,
	// closes, and reads are fresh again.
	proxy.Start()
	waitFor(t, "the vault back through the breaker", func() bool {
		got, err := stack.Get(ctx, providers.Ref{Name: ref.Name, Fresh: true})
		return err == nil && !got.Stale && got.Attributes["password"] == "v3"
	})
	smu.Lock()
	defer smu.Unlock()
	if got := strings.Join(states, " "); !strings.Contains(got, "open half-open") || !strings.HasSuffix(got, "half-open closed") {
		t.Fatalf("breaker states %v, want open, half-open, closed", states)
	}
}

type stateRecorder func(string)

func (r stateRecorder) BreakerState(_, state string) { r(state) }
func (r stateRecorder) Retried()                     {}
func (r stateRecorder) Rejected(string)              {}

// TestVaultFailoverAndBack: a locker reads Vault first and a second vault
// (the reference Memory provider) when Vault is down, and Vault again when
// it is back.
func TestVaultFailoverAndBack(t *testing.T) {
	s := startVault(t)
	putKV2(t, s, "rpa/accounting-5f-erp", map[string]any{"password": "from-vault"}) // HashiCorp encodes _ as -5f-
	proxy := newSwitchProxy(t, s.addr[len("http://"):])
	cfg := hashicorp.Config{Address: "http://" + proxy.addr, Mount: "kv2", Path: "rpa", KVVersion: 2,
		Auth: hashicorp.AuthConfig{Method: hashicorp.MethodToken, TokenFile: writeFile(t, "token", s.token)}}
	protect, err := resilience.New(resilience.Options{Name: "vault", Timeout: 2 * time.Second,
		Breaker: &resilience.BreakerOptions{Failures: 2, CoolDown: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	vaultStack := providers.Chain(newProvider(t, cfg, nil), protect)
	mem := providertest.NewMemory()
	mem.Seed(providers.Ref{Name: "accounting_erp"}, &providers.Secret{Attributes: map[string]string{"password": "from-standby"}})
	hs, _ := naming.NewScheme(naming.HashiCorp, naming.Options{})
	es, _ := naming.NewScheme(naming.Embedded, naming.Options{})
	pol, err := policy.New(policy.Config{Clients: []policy.Client{{Name: "bots", Identities: []string{"bot"}, Operations: []string{"credential"}, Lockers: []string{"*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	al, err := audit.Open(audit.Options{Path: auditPath})
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	b, err := broker.New(broker.Options{
		Providers: []broker.Provider{{Name: "vault", Provider: vaultStack, Scheme: hs}, {Name: "standby", Provider: mem, Scheme: es}},
		Lockers: []broker.Locker{{Name: "finance", Places: []broker.Place{{Provider: "vault", Prefix: "accounting"},
			{Provider: "standby", Prefix: "accounting"}}}},
		Authorizer: pol, Auditor: al})
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.NewContext(testCtx(t), auth.Principal{ID: "bot", Method: auth.MethodToken})
	read := func() *broker.Result {
		t.Helper()
		res, err := b.GetCredential(ctx, broker.Request{Locker: "finance", Credential: "erp"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := read(); res.Served.Provider != "vault" || res.Secret.Attributes["password"] != "from-vault" {
		t.Fatalf("healthy: %+v", res.Served)
	}
	proxy.Stop()
	for i := 0; i < 3; i++ {
		if res := read(); res.Served.Provider != "standby" || res.Served.Place != 1 {
			t.Fatalf("vault down: %+v", res.Served)
		}
	}
	proxy.Start()
	waitFor(t, "reads from Vault again", func() bool {
		res, err := b.GetCredential(ctx, broker.Request{Locker: "finance", Credential: "erp"})
		return err == nil && res.Served.Provider == "vault"
	})
	if err := al.Close(); err != nil && !errors.Is(err, audit.ErrClosed) {
		t.Fatal(err)
	}
	rep, err := audit.Verify([]string{auditPath})
	if err != nil || rep.Lines == 0 {
		t.Fatalf("audit: %v %v", rep, err)
	}
}

func putKV2(t *testing.T, s *vaultServer, path string, data map[string]any) {
	t.Helper()
	if _, err := s.admin.KVv2("kv2").Put(testCtx(t), path, data); err != nil {
		t.Fatal(err)
	}
}
