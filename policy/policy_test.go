package policy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/auth"
)

// exampleYAML is the policy block of the documentation.
const exampleYAML = `
policy:
  default_rate_limit: {rps: 50, burst: 100}
  clients:
    - name: control-room
      identities: ["spiffe://corp.example/rpa/control-room"]
      operations: [autologin, list]
      usernames: ["*"]
      rate_limit: {rps: 500, burst: 1000}
    - name: bot-pool-a
      identities: ["spiffe://corp.example/rpa/bot-pool-a", "unix:user:bot-a"]
      operations: [credential, resolve, list]
      lockers: ["finance", "hr-*"]
      usernames: ['ABCD\bot-*']
    - name: ops
      identities: ["spiffe://corp.example/ops/*"]
      operations: [admin, check]
      lockers: ["*"]
`

// decode decodes a YAML document holding a policy block the way the
// configuration loader does (KnownFields).
func decode(t testing.TB, doc string) Config {
	t.Helper()
	var file struct {
		Policy Config `yaml:"policy"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return file.Policy
}

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustNew(t testing.TB, cfg Config, opts ...Option) *Policy {
	t.Helper()
	p, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

var (
	controlRoom = auth.Principal{ID: "spiffe://corp.example/rpa/control-room", Method: auth.MethodMTLS}
	botPoolA    = auth.Principal{ID: "spiffe://corp.example/rpa/bot-pool-a", Method: auth.MethodMTLS}
	stranger    = auth.Principal{ID: "spiffe://corp.example/rpa/stranger", Method: auth.MethodMTLS}
)

func TestDecodeExample(t *testing.T) {
	cfg := decode(t, exampleYAML)
	want := Client{
		Name:       "bot-pool-a",
		Identities: []string{"spiffe://corp.example/rpa/bot-pool-a", "unix:user:bot-a"},
		Operations: []string{"credential", "resolve", "list"},
		Lockers:    []string{"finance", "hr-*"},
		Usernames:  []string{`ABCD\bot-*`},
	}
	if len(cfg.Clients) != 3 {
		t.Fatalf("decoded %d clients, want 3", len(cfg.Clients))
	}
	got := cfg.Clients[1]
	if got.Name != want.Name || strings.Join(got.Identities, ",") != strings.Join(want.Identities, ",") ||
		strings.Join(got.Operations, ",") != strings.Join(want.Operations, ",") ||
		strings.Join(got.Lockers, ",") != strings.Join(want.Lockers, ",") ||
		strings.Join(got.Usernames, ",") != strings.Join(want.Usernames, ",") || got.RateLimit != nil {
		t.Errorf("clients[1] = %+v, want %+v", got, want)
	}
	if rl := cfg.Clients[0].RateLimit; rl == nil || rl.RPS != 500 || rl.Burst != 1000 {
		t.Errorf("clients[0].rate_limit = %+v, want {500 1000}", rl)
	}
	if rl := cfg.DefaultRateLimit; rl == nil || rl.RPS != 50 || rl.Burst != 100 {
		t.Errorf("default_rate_limit = %+v, want {50 100}", rl)
	}
	mustNew(t, cfg)
}

func TestAuthorize(t *testing.T) {
	p := mustNew(t, decode(t, exampleYAML))
	tests := []struct {
		name string
		p    auth.Principal
		a    auth.Action
		want auth.Decision
	}{
		{"bot for another user's credential", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "finance", Username: `ABCD\user123`},
			auth.Decision{Rule: "default deny"}},
		{"bot for its own user's credential", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "finance", Username: `ABCD\bot-7`},
			auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}},
		{"backslash is literal, not an escape", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "finance", Username: `ABCDbot-7`},
			auth.Decision{Rule: "default deny"}},
		{"usernames are case-sensitive", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "finance", Username: `abcd\bot-7`},
			auth.Decision{Rule: "default deny"}},
		{"system credential of its locker", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "finance"},
			auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}},
		{"system credential of a pattern locker", botPoolA,
			auth.Action{Op: auth.OpResolve, Locker: "hr-payroll"},
			auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}},
		{"locker outside its grant", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "treasury"},
			auth.Decision{Rule: "default deny"}},
		{"locker pattern is anchored", botPoolA,
			auth.Action{Op: auth.OpCredential, Locker: "finance-eu"},
			auth.Decision{Rule: "default deny"}},
		{"operation not granted", botPoolA,
			auth.Action{Op: auth.OpWrite, Locker: "finance", Username: `ABCD\bot-7`},
			auth.Decision{Rule: "default deny"}},
		{"autologin not granted to the bot", botPoolA,
			auth.Action{Op: auth.OpAutoLogin, Username: `ABCD\bot-7`},
			auth.Decision{Rule: "default deny"}},
		{"list takes no locker", botPoolA,
			auth.Action{Op: auth.OpList},
			auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}},
		{"locker operation without a locker", botPoolA,
			auth.Action{Op: auth.OpCredential},
			auth.Decision{Rule: "default deny"}},
		{"control room autologin for any user", controlRoom,
			auth.Action{Op: auth.OpAutoLogin, Username: `EFGH\someone.else`},
			auth.Decision{Allowed: true, Rule: "clients[0] control-room"}},
		{"control room lists", controlRoom,
			auth.Action{Op: auth.OpList},
			auth.Decision{Allowed: true, Rule: "clients[0] control-room"}},
		{"control room may not read credentials", controlRoom,
			auth.Action{Op: auth.OpCredential, Locker: "finance"},
			auth.Decision{Rule: "default deny"}},
		{"unknown identity", stranger,
			auth.Action{Op: auth.OpList},
			auth.Decision{Rule: "default deny"}},
		{"identity prefix is not enough", auth.Principal{ID: "spiffe://corp.example/rpa/bot-pool-a-evil"},
			auth.Action{Op: auth.OpList},
			auth.Decision{Rule: "default deny"}},
		{"alias match", auth.Principal{ID: "unix:uid:1001", Method: auth.MethodUnix, Aliases: []string{"unix:user:bot-a"}},
			auth.Action{Op: auth.OpCredential, Locker: "hr-benefits", Username: `ABCD\bot-1`},
			auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}},
		{"empty ID with a matching alias", auth.Principal{Aliases: []string{"unix:user:bot-a"}},
			auth.Action{Op: auth.OpList},
			auth.Decision{Rule: "default deny"}},
		{"identity pattern with star across segments", auth.Principal{ID: "spiffe://corp.example/ops/eu/alice"},
			auth.Action{Op: auth.OpAdmin},
			auth.Decision{Allowed: true, Rule: "clients[2] ops"}},
		{"ops check on any locker", auth.Principal{ID: "spiffe://corp.example/ops/bob"},
			auth.Action{Op: auth.OpCheck, Locker: "treasury"},
			auth.Decision{Allowed: true, Rule: "clients[2] ops"}},
		{"unknown operation", controlRoom,
			auth.Action{Op: auth.Operation(99)},
			auth.Decision{Rule: "default deny"}},
		{"zero operation", controlRoom,
			auth.Action{},
			auth.Decision{Rule: "default deny"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Authorize(context.Background(), tt.p, tt.a); got != tt.want {
				t.Errorf("Authorize(%v, %+v) = %+v, want %+v", tt.p, tt.a, got, tt.want)
			}
		})
	}
}

// TestAnyMatchingClientAllows checks that a principal matching several
// clients gets the union of their grants, named by the first that allows.
func TestAnyMatchingClientAllows(t *testing.T) {
	p := mustNew(t, decode(t, `
policy:
  clients:
    - name: readers
      identities: ["spiffe://corp.example/rpa/*"]
      operations: [list]
    - name: finance-bots
      identities: ["spiffe://corp.example/rpa/bot-*"]
      operations: [credential]
      lockers: [finance]
    - name: also-finance
      identities: ["spiffe://corp.example/rpa/bot-1"]
      operations: [credential, list]
      lockers: [finance, hr]
`))
	bot := auth.Principal{ID: "spiffe://corp.example/rpa/bot-1"}
	tests := []struct {
		a    auth.Action
		want auth.Decision
	}{
		{auth.Action{Op: auth.OpList}, auth.Decision{Allowed: true, Rule: "clients[0] readers"}},
		{auth.Action{Op: auth.OpCredential, Locker: "finance"}, auth.Decision{Allowed: true, Rule: "clients[1] finance-bots"}},
		{auth.Action{Op: auth.OpCredential, Locker: "hr"}, auth.Decision{Allowed: true, Rule: "clients[2] also-finance"}},
		{auth.Action{Op: auth.OpCredential, Locker: "legal"}, auth.Decision{Rule: "default deny"}},
	}
	for _, tt := range tests {
		if got := p.Authorize(context.Background(), bot, tt.a); got != tt.want {
			t.Errorf("Authorize(%+v) = %+v, want %+v", tt.a, got, tt.want)
		}
	}
}

func TestEmptyPolicyDeniesEverything(t *testing.T) {
	p := mustNew(t, Config{})
	got := p.Authorize(context.Background(), controlRoom, auth.Action{Op: auth.OpList})
	if want := (auth.Decision{Rule: "default deny"}); got != want {
		t.Errorf("Authorize = %+v, want %+v", got, want)
	}
	if p.Visible(controlRoom, "finance") {
		t.Error("Visible on an empty policy = true")
	}
}

func TestVisible(t *testing.T) {
	c := newClock()
	cfg := decode(t, exampleYAML)
	cfg.Clients[1].RateLimit = &RateLimit{RPS: 1, Burst: 1}
	p := mustNew(t, cfg, WithClock(c.now))
	tests := []struct {
		p      auth.Principal
		locker string
		want   bool
	}{
		{botPoolA, "finance", true},
		{botPoolA, "hr-payroll", true},
		{botPoolA, "treasury", false},
		{botPoolA, "", false},
		{controlRoom, "finance", false}, // autologin and list take no locker
		{stranger, "finance", false},
		{auth.Principal{ID: "spiffe://corp.example/ops/x"}, "treasury", true},
		{auth.Principal{ID: "unix:uid:7", Aliases: []string{"unix:user:bot-a"}}, "finance", true},
	}
	for _, tt := range tests {
		// Several times: Visible must not spend the limit of 1.
		for range 3 {
			if got := p.Visible(tt.p, tt.locker); got != tt.want {
				t.Errorf("Visible(%s, %q) = %v, want %v", tt.p.ID, tt.locker, got, tt.want)
			}
		}
	}
	got := p.Authorize(context.Background(), botPoolA, auth.Action{Op: auth.OpList})
	if want := (auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}); got != want {
		t.Errorf("Authorize after Visible = %+v, want %+v (Visible spent the limit?)", got, want)
	}
}

func TestRateLimit(t *testing.T) {
	c := newClock()
	cfg := decode(t, `
policy:
  clients:
    - name: bots
      identities: ["spiffe://corp.example/rpa/bot-*"]
      operations: [credential]
      lockers: [finance]
      rate_limit: {rps: 1, burst: 3}
    - name: control-room
      identities: ["spiffe://corp.example/rpa/control-room"]
      operations: [autologin]
`)
	p := mustNew(t, cfg, WithClock(c.now))
	ctx := context.Background()
	bot1 := auth.Principal{ID: "spiffe://corp.example/rpa/bot-1"}
	bot2 := auth.Principal{ID: "spiffe://corp.example/rpa/bot-2"}
	read := auth.Action{Op: auth.OpCredential, Locker: "finance"}
	allowed := auth.Decision{Allowed: true, Rule: "clients[0] bots"}

	for i := range 3 {
		if got := p.Authorize(ctx, bot1, read); got != allowed {
			t.Fatalf("request %d = %+v, want %+v", i, got, allowed)
		}
	}
	limited := auth.Decision{Rule: "clients[0] bots rate_limit", Limited: true, RetryAfter: time.Second}
	for i := range 5 {
		if got := p.Authorize(ctx, bot1, read); got != limited {
			t.Fatalf("flood request %d = %+v, want %+v", i, got, limited)
		}
	}
	// The limit is per principal ID: another bot of the same client and
	// another client are unaffected.
	if got := p.Authorize(ctx, bot2, read); got != allowed {
		t.Errorf("bot-2 during bot-1's flood = %+v, want %+v", got, allowed)
	}
	for range 10 {
		got := p.Authorize(ctx, controlRoom, auth.Action{Op: auth.OpAutoLogin, Username: `ABCD\u1`})
		if want := (auth.Decision{Allowed: true, Rule: "clients[1] control-room"}); got != want {
			t.Fatalf("unlimited control room = %+v, want %+v", got, want)
		}
	}
	// Limited requests spend nothing: after 0.5s the wait is half as long,
	// after 1s one request goes through.
	c.advance(500 * time.Millisecond)
	if got, want := p.Authorize(ctx, bot1, read).RetryAfter, 500*time.Millisecond; got != want {
		t.Errorf("RetryAfter after 0.5s = %v, want %v", got, want)
	}
	c.advance(500 * time.Millisecond)
	if got := p.Authorize(ctx, bot1, read); got != allowed {
		t.Errorf("after 1s = %+v, want %+v", got, allowed)
	}
	if got := p.Authorize(ctx, bot1, read); got != limited {
		t.Errorf("second after 1s = %+v, want %+v", got, limited)
	}
}

func TestDeniedRequestsSpendTheLimit(t *testing.T) {
	c := newClock()
	p := mustNew(t, Config{
		DefaultRateLimit: &RateLimit{RPS: 2, Burst: 2},
		Clients: []Client{{
			Name:       "bots",
			Identities: []string{"spiffe://corp.example/rpa/bot-1"},
			Operations: []string{"credential"},
			Lockers:    []string{"finance"},
		}},
	}, WithClock(c.now))
	ctx := context.Background()
	bot := auth.Principal{ID: "spiffe://corp.example/rpa/bot-1"}
	denied := auth.Decision{Rule: "default deny"}
	for range 2 {
		if got := p.Authorize(ctx, bot, auth.Action{Op: auth.OpCredential, Locker: "treasury"}); got != denied {
			t.Fatalf("treasury = %+v, want %+v", got, denied)
		}
	}
	want := auth.Decision{Rule: "default_rate_limit", Limited: true, RetryAfter: 500 * time.Millisecond}
	if got := p.Authorize(ctx, bot, auth.Action{Op: auth.OpCredential, Locker: "finance"}); got != want {
		t.Errorf("finance after two denials = %+v, want %+v", got, want)
	}
	// Unknown identities have the default limit too.
	for range 2 {
		if got := p.Authorize(ctx, stranger, auth.Action{Op: auth.OpList}); got != denied {
			t.Fatalf("stranger = %+v, want %+v", got, denied)
		}
	}
	if got := p.Authorize(ctx, stranger, auth.Action{Op: auth.OpList}); got != want {
		t.Errorf("stranger's third request = %+v, want %+v", got, want)
	}
}

func TestRateLimitOfFirstMatchingClientWithOne(t *testing.T) {
	c := newClock()
	p := mustNew(t, decode(t, `
policy:
  default_rate_limit: {rps: 100, burst: 100}
  clients:
    - name: no-limit-here
      identities: ["spiffe://corp.example/*"]
      operations: [list]
    - name: tight
      identities: ["spiffe://corp.example/rpa/*"]
      operations: [list]
      rate_limit: {rps: 1, burst: 1}
    - name: loose
      identities: ["spiffe://corp.example/rpa/bot-1"]
      operations: [list]
      rate_limit: {rps: 1000, burst: 1000}
`), WithClock(c.now))
	bot := auth.Principal{ID: "spiffe://corp.example/rpa/bot-1"}
	list := auth.Action{Op: auth.OpList}
	if got, want := p.Authorize(context.Background(), bot, list), (auth.Decision{Allowed: true, Rule: "clients[0] no-limit-here"}); got != want {
		t.Fatalf("first = %+v, want %+v", got, want)
	}
	want := auth.Decision{Rule: "clients[1] tight rate_limit", Limited: true, RetryAfter: time.Second}
	if got := p.Authorize(context.Background(), bot, list); got != want {
		t.Errorf("second = %+v, want %+v", got, want)
	}
}

func TestBucketsAreBounded(t *testing.T) {
	c := newClock()
	p := mustNew(t, Config{
		DefaultRateLimit: &RateLimit{RPS: 1, Burst: 1},
	}, WithClock(c.now), WithMaxTrackedIdentities(2))
	ctx := context.Background()
	a := auth.Principal{ID: "a"}
	limited := auth.Decision{Rule: "default_rate_limit", Limited: true, RetryAfter: time.Second}
	p.Authorize(ctx, a, auth.Action{Op: auth.OpList})
	if got := p.Authorize(ctx, a, auth.Action{Op: auth.OpList}); got != limited {
		t.Fatalf("a's second = %+v, want %+v", got, limited)
	}
	for i := range 50 {
		p.Authorize(ctx, auth.Principal{ID: "other-" + strings.Repeat("x", i)}, auth.Action{Op: auth.OpList})
	}
	if n := p.buckets.Len(); n != 2 {
		t.Errorf("%d buckets after 51 identities, want 2", n)
	}
	// a's bucket was forgotten, so a starts again with a full one (the
	// documented price of the bound).
	if got, want := p.Authorize(ctx, a, auth.Action{Op: auth.OpList}), (auth.Decision{Rule: "default deny"}); got != want {
		t.Errorf("a after eviction = %+v, want %+v", got, want)
	}
}

func TestNoBucketsWithoutLimits(t *testing.T) {
	p := mustNew(t, decode(t, `
policy:
  clients:
    - name: cr
      identities: ["spiffe://corp.example/rpa/control-room"]
      operations: [list]
`))
	if p.buckets != nil {
		t.Error("a policy without rate limits keeps buckets")
	}
}

// TestLimitFollowsMatchedClient checks that one ID seen with other aliases
// (so other clients) keeps its tokens but takes the new rate.
func TestLimitFollowsMatchedClient(t *testing.T) {
	c := newClock()
	p := mustNew(t, decode(t, `
policy:
  clients:
    - name: by-user
      identities: ["unix:user:bot"]
      operations: [list]
      rate_limit: {rps: 1, burst: 1}
    - name: by-uid
      identities: ["unix:uid:1001"]
      operations: [list]
      rate_limit: {rps: 10, burst: 1}
`), WithClock(c.now))
	ctx := context.Background()
	withAlias := auth.Principal{ID: "unix:uid:1001", Aliases: []string{"unix:user:bot"}}
	bare := auth.Principal{ID: "unix:uid:1001"}
	list := auth.Action{Op: auth.OpList}
	if got := p.Authorize(ctx, withAlias, list); !got.Allowed {
		t.Fatalf("first = %+v, want allowed", got)
	}
	want := auth.Decision{Rule: "clients[1] by-uid rate_limit", Limited: true, RetryAfter: 100 * time.Millisecond}
	if got := p.Authorize(ctx, bare, list); got != want {
		t.Errorf("same ID without the alias = %+v, want %+v (a fresh bucket?)", got, want)
	}
}

// TestConcurrentAuthorize runs deciders side by side (for -race) on one
// bucket with a stopped clock: exactly its burst goes through.
func TestConcurrentAuthorize(t *testing.T) {
	c := newClock()
	p := mustNew(t, decode(t, exampleYAML), WithClock(c.now), WithMaxTrackedIdentities(4))
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed, other := 0, []auth.Decision{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := auth.Principal{ID: "spiffe://corp.example/rpa/bot-pool-a", Aliases: []string{strings.Repeat("x", (g+i)%7)}}
				d := p.Authorize(context.Background(), id, auth.Action{Op: auth.OpList})
				visible := p.Visible(id, "finance")
				mu.Lock()
				switch {
				case !visible:
					other = append(other, auth.Decision{Rule: "not visible"})
				case d == auth.Decision{Allowed: true, Rule: "clients[1] bot-pool-a"}:
					allowed++
				case d.Limited && d.Rule == "default_rate_limit":
				default:
					other = append(other, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 100 || len(other) > 0 {
		t.Errorf("%d allowed (want the burst, 100), unexpected: %+v", allowed, other)
	}
}

func TestValidationListsEveryProblem(t *testing.T) {
	nan := 0.0
	nan /= nan
	cfg := Config{
		DefaultRateLimit: &RateLimit{RPS: 0, Burst: 0},
		Clients: []Client{
			{ // 0: fine
				Name: "ok", Identities: []string{"a"}, Operations: []string{"list"},
			},
			{ // 1: unknown operation, lockers missing, rate limit bad
				Name: "typo", Identities: []string{"b"}, Operations: []string{"credential", "fetch"},
				RateLimit: &RateLimit{RPS: nan, Burst: 1},
			},
			{ // 2: no identities, no operations, lockers without locker ops
				Name: "empty", Lockers: []string{"finance"},
			},
			{ // 3: duplicate name, bad patterns, lockers for list only, empty usernames
				Name: "ok", Identities: []string{"", " spiffe://x"}, Operations: []string{"list", "autologin"},
				Lockers: []string{"finance"}, Usernames: []string{},
			},
			{ // 4: no name, usernames with admin only, negative burst
				Identities: []string{"c"}, Operations: []string{"admin"}, Usernames: []string{"*"},
				RateLimit: &RateLimit{RPS: -1, Burst: -5},
			},
			{ // 5: control character in a locker
				Name: "ctl", Identities: []string{"d"}, Operations: []string{"check"}, Lockers: []string{"fin\tance", "hr"},
			},
		},
	}
	p, err := New(cfg)
	if p != nil || err == nil {
		t.Fatalf("New = %v, %v; want nil and errors", p, err)
	}
	want := []string{
		"default_rate_limit.rps",
		"default_rate_limit.burst",
		"clients[1].operations[1]",
		"clients[1].lockers",
		"clients[1].rate_limit.rps",
		"clients[2].identities",
		"clients[2].operations",
		"clients[3].name",
		"clients[3].identities[0]",
		"clients[3].identities[1]",
		"clients[3].lockers",
		"clients[3].usernames",
		"clients[4].name",
		"clients[4].usernames",
		"clients[4].rate_limit.rps",
		"clients[4].rate_limit.burst",
		"clients[5].lockers[0]",
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%v is not a *FieldError", e)
			continue
		}
		if fe.Problem == "" || fe.Fix == "" {
			t.Errorf("%s: empty problem or fix: %+v", fe.Path, fe)
		}
		got = append(got, fe.Path)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("paths:\n%s\nwant:\n%s\nerror:\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), err)
	}
}

func TestFieldErrorText(t *testing.T) {
	_, err := New(Config{Clients: []Client{{Name: "x", Identities: []string{"a"}, Operations: []string{"fetch"}}}})
	want := `clients[0].operations[0]: "fetch" is not an operation (write autologin, credential, resolve, list, write, check or admin)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := New(Config{}, WithMaxTrackedIdentities(0)); err == nil {
		t.Error("WithMaxTrackedIdentities(0) accepted")
	}
	if _, err := New(Config{}, WithClock(nil)); err == nil {
		t.Error("WithClock(nil) accepted")
	}
}

// BenchmarkAuthorize decides an allowed user-defined credential request of
// a principal whose client is the 22nd of 23, with a rate limit.
func BenchmarkAuthorize(b *testing.B) {
	cfg := decode(b, exampleYAML)
	// A realistic number of clients before the one that matches.
	for i := range 20 {
		cfg.Clients = append([]Client{{
			Name:       "pool-" + strings.Repeat("z", i),
			Identities: []string{"spiffe://corp.example/rpa/pool-" + strings.Repeat("z", i), "unix:user:pool*"},
			Operations: []string{"credential"},
			Lockers:    []string{"locker-*"},
		}}, cfg.Clients...)
	}
	cfg.Clients[21].RateLimit = &RateLimit{RPS: 1e9, Burst: 1 << 30}
	cfg.DefaultRateLimit = &RateLimit{RPS: 1e9, Burst: 1 << 30}
	p := mustNew(b, cfg)
	ctx := context.Background()
	a := auth.Action{Op: auth.OpCredential, Locker: "hr-payroll", Username: `ABCD\bot-42`}
	want := auth.Decision{Allowed: true, Rule: "clients[21] bot-pool-a"}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := p.Authorize(ctx, botPoolA, a); got != want {
				b.Fatalf("Authorize = %+v, want %+v", got, want)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if got := p.Authorize(ctx, botPoolA, a); got != want {
					b.Fatalf("Authorize = %+v, want %+v", got, want)
				}
			}
		})
	})
	b.Run("denied", func(b *testing.B) {
		deny := auth.Decision{Rule: "default deny"}
		b.ReportAllocs()
		for b.Loop() {
			if got := p.Authorize(ctx, stranger, a); got != deny {
				b.Fatalf("Authorize = %+v, want %+v", got, deny)
			}
		}
	})
}
