package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// memProvider is an in-memory provider for the broker's own tests: it
// records what was asked and can fail named secrets with a code.
type memProvider struct {
	mu       sync.Mutex
	secrets  map[string]map[string]string // location/name -> attributes
	fail     map[string]providers.Code    // location/name -> code
	down     providers.Code               // every call fails with it when not OK/zero
	stale    bool
	writable bool
	asked    []providers.Ref
}

func newMem(writable bool) *memProvider {
	return &memProvider{secrets: map[string]map[string]string{}, fail: map[string]providers.Code{}, writable: writable}
}

func (m *memProvider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, ref)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.down != 0 && m.down != providers.OK {
		return nil, providers.Errorf(m.down, errors.New("mem: inner text"), "the vault is down")
	}
	if c, ok := m.fail[ref.String()]; ok {
		return nil, providers.Errorf(c, errors.New("mem: inner text"), "failing on purpose")
	}
	a, ok := m.secrets[ref.String()]
	if !ok {
		return nil, providers.Errorf(providers.NotFound, nil, "secret not found")
	}
	return (&providers.Secret{Attributes: a, Version: "1", Stale: m.stale}).Clone(), nil
}

func (m *memProvider) calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.asked)
}

func (m *memProvider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	if !m.writable {
		return providers.NotWritable("mem")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets[ref.String()] = s.Clone().Attributes
	return nil
}

func (m *memProvider) Delete(ctx context.Context, ref providers.Ref) error {
	if !m.writable {
		return providers.NotWritable("mem")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.secrets[ref.String()]; !ok {
		return providers.Errorf(providers.NotFound, nil, "secret not found")
	}
	delete(m.secrets, ref.String())
	return nil
}

func (m *memProvider) Writable() bool                  { return m.writable }
func (m *memProvider) Check(ctx context.Context) error { return nil }
func (m *memProvider) Close() error                    { return nil }

// authz is a test Authorizer: a function decides, and calls are counted.
type authz struct {
	decide  func(auth.Principal, auth.Action) auth.Decision
	visible func(auth.Principal, string) bool
}

func (a *authz) Authorize(_ context.Context, p auth.Principal, act auth.Action) auth.Decision {
	return a.decide(p, act)
}

func (a *authz) Visible(p auth.Principal, locker string) bool { return a.visible(p, locker) }

func allowAll() *authz {
	return &authz{
		decide: func(auth.Principal, auth.Action) auth.Decision {
			return auth.Decision{Allowed: true, Rule: "test allow"}
		},
		visible: func(auth.Principal, string) bool { return true },
	}
}

// auditor keeps entries in memory and can fail.
type auditor struct {
	mu      sync.Mutex
	entries []*audit.Entry
	fail    error
}

func (a *auditor) Write(e *audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditor) last(t *testing.T) *audit.Entry {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) == 0 {
		t.Fatal("no audit entry")
	}
	return a.entries[len(a.entries)-1]
}

func scheme(t *testing.T, kind string) *naming.Scheme {
	t.Helper()
	s, err := naming.NewScheme(kind, naming.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	b             *Broker
	aws, ark, az  *memProvider
	authz         *authz
	audit         *auditor
	failoverOnNF  bool
	auditFailOpen bool
}

var bot = auth.Principal{ID: "bot-pool-a", Method: auth.MethodToken}

func ctxAs(p auth.Principal) context.Context { return auth.NewContext(context.Background(), p) }

func newFixture(t *testing.T, tweak ...func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{aws: newMem(true), ark: newMem(false), az: newMem(true), authz: allowAll(), audit: &auditor{}}
	for _, fn := range tweak {
		fn(f)
	}
	b, err := New(Options{
		Providers: []Provider{
			{Name: "aws-prod", Provider: f.aws, Scheme: scheme(t, naming.AWS)},
			{Name: "ark", Provider: f.ark, Scheme: scheme(t, naming.CyberArk)},
			{Name: "azure-dr", Provider: f.az, Scheme: scheme(t, naming.Azure)},
		},
		Lockers: []Locker{
			{Name: "finance", Places: []Place{{Provider: "aws-prod", Prefix: "accounting"}}},
			{Name: "gl", Places: []Place{{Provider: "ark", Safe: "finance"}}, UsernameTemplate: `$domain$\$username$`},
			{Name: "ha", Places: []Place{{Provider: "ark", Safe: "finance"}, {Provider: "azure-dr", Prefix: "accounting"}},
				FailoverOnNotFound: f.failoverOnNF},
		},
		AutoLogin:     &AutoLogin{Provider: "ark", Safe: "AutoLogin", Mapping: map[string]string{`ABCD\svc`: "svc-login"}},
		Authorizer:    f.authz,
		Auditor:       f.audit,
		AuditFailOpen: f.auditFailOpen,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

func wantCode(t *testing.T, err error, code providers.Code) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got error %v, want code %v", err, code)
	}
	return e
}

func TestUserCredentialPreferred(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf_ABCD--user123"] = map[string]string{"username": "u", "password": "user-pw"}
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": "system-pw"}
	res, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`})
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Scope != ScopeUser || res.Secret.Attributes["password"] != "user-pw" || res.Served.Name != "accounting_pdf_ABCD--user123" {
		t.Fatalf("served %+v with %d attributes, want the user-defined credential", res.Served, len(res.Secret.Attributes))
	}
	e := f.audit.last(t)
	if e.Identity != "bot-pool-a" || e.AuthMethod != "token" || e.Operation != "credential" || e.Decision != "allowed" ||
		e.Served != "accounting_pdf_ABCD--user123" || e.Scope != "USER" || e.Code != "OK" || e.Provider != "aws-prod" {
		t.Fatalf("audit entry %+v", e)
	}
}

func TestFallbackToSystemOnlyOnNotFound(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": "system-pw"}
	req := Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}
	res, err := f.b.GetCredential(ctxAs(bot), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Scope != ScopeSystem || res.Secret.Attributes["password"] != "system-pw" {
		t.Fatalf("served %+v, want the system credential", res.Served)
	}
	if got := fmt.Sprint(f.audit.last(t).Tried); got != "[USER accounting_pdf_ABCD--user123 @aws-prod SYSTEM accounting_pdf @aws-prod]" {
		t.Fatalf("audit tried %s", got)
	}
	for _, code := range []providers.Code{providers.PermissionDenied, providers.Unavailable, providers.Internal} {
		f.aws.fail["accounting_pdf_ABCD--user123"] = code
		_, err := f.b.GetCredential(ctxAs(bot), req)
		e := wantCode(t, err, code)
		if len(e.Tried) != 1 || e.Tried[0].Scope != ScopeUser {
			t.Errorf("tried %v, want only the user-defined credential", e.Tried)
		}
		if strings.Contains(e.Message(), "inner text") {
			t.Errorf("message %q carries the inner error text", e.Message())
		}
	}
}

func TestNotFoundNamesEverythingTried(t *testing.T) {
	f := newFixture(t)
	_, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`})
	e := wantCode(t, err, providers.NotFound)
	want := `get credential "pdf" in locker "finance" for user "ABCD\\user123": secret not found (tried USER "accounting_pdf_ABCD--user123" in provider "aws-prod" (aws), then SYSTEM "accounting_pdf" in provider "aws-prod" (aws))`
	if e.Message() != want {
		t.Fatalf("message\n%s\nwant\n%s", e.Message(), want)
	}
}

func TestAutoLogin(t *testing.T) {
	f := newFixture(t)
	f.ark.secrets["AutoLogin/autologin_john"] = map[string]string{"username": "john", "password": "pw"}
	res, err := f.b.GetAutoLogin(ctxAs(bot), Request{Username: "john"})
	if err != nil {
		t.Fatal(err)
	}
	if res.LoginName != "john" || res.Served.Location != "AutoLogin" {
		t.Fatalf("got %+v login %q", res.Served, res.LoginName)
	}
	if got := f.ark.asked[0].Reason; got != "secretbroker for bot-pool-a" {
		t.Fatalf("CyberArk Reason %q, want the authenticated identity", got)
	}
	f.ark.secrets["AutoLogin/svc-login"] = map[string]string{"username": "svc", "password": "pw"}
	res, err = f.b.GetAutoLogin(auth.WithPurpose(ctxAs(bot), "nightly run"), Request{Username: `ABCD\svc`})
	if err != nil || !res.Served.Mapped || res.Served.Name != "svc-login" {
		t.Fatalf("mapped auto-login: %+v, %v", res, err)
	}
	if got := f.ark.asked[1].Reason; got != "secretbroker for bot-pool-a: nightly run" {
		t.Fatalf("CyberArk Reason %q", got)
	}
	if e := f.audit.last(t); e.Purpose != "nightly run" || e.Identity != "bot-pool-a" || e.Operation != "autologin" {
		t.Fatalf("audit %+v", e)
	}
	_, err = f.b.GetAutoLogin(ctxAs(bot), Request{Username: "user123@rpa.abcd.com"})
	e := wantCode(t, err, providers.NotFound)
	want := `get auto-login credential for user "user123@rpa.abcd.com": secret not found (tried AUTO_LOGIN "autologin_user123-40-rpa-2e-abcd-2e-com" in provider "ark" (cyberark, safe "AutoLogin"))`
	if e.Message() != want {
		t.Fatalf("message\n%s\nwant\n%s", e.Message(), want)
	}
}

func TestUsernameTemplate(t *testing.T) {
	f := newFixture(t)
	f.ark.secrets["finance/glaccess"] = map[string]string{"username": "gl", "domain": "ACME", "password": "pw"}
	res, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "gl", Credential: "glaccess"})
	if err != nil {
		t.Fatal(err)
	}
	if res.LoginName != `ACME\gl` {
		t.Fatalf("login name %q, want ACME\\gl", res.LoginName)
	}
	f.ark.secrets["finance/nodomain"] = map[string]string{"username": "gl", "password": "s3cr3t-value"}
	_, err = f.b.GetCredential(ctxAs(bot), Request{Locker: "gl", Credential: "nodomain"})
	e := wantCode(t, err, providers.FailedPrecondition)
	if !strings.Contains(e.Message(), "domain") || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("got %v, want the missing field named and no value", err)
	}
}

func TestAttributeFilter(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": "pw", "url": "https://x"}
	res, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Attributes: []string{"password"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Secret.Attributes) != 1 || res.Secret.Attributes["password"] != "pw" {
		t.Fatalf("got keys %v, want only password", res.Secret)
	}
	_, err = f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Attributes: []string{"otp"}})
	if e := wantCode(t, err, providers.NotFound); !strings.Contains(e.Message(), `"otp"`) {
		t.Fatalf("message %q does not name the attribute", e.Message())
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	huge := strings.Repeat("L", 1_000_000)
	cases := []struct {
		name string
		req  Request
		code providers.Code
		want string
	}{
		{"unknown locker", Request{Locker: "nope", Credential: "pdf"}, providers.FailedPrecondition, `unknown locker "nope"`},
		{"no locker", Request{Credential: "pdf"}, providers.InvalidArgument, "locker is required"},
		{"long username", Request{Locker: "finance", Credential: "pdf", Username: strings.Repeat("u", 300)}, providers.InvalidArgument, "username"},
		{"control char", Request{Locker: "finance", Credential: "pdf", Username: "a\x07b"}, providers.InvalidArgument, "control character U+0007"},
		{"empty credential", Request{Locker: "finance"}, providers.InvalidArgument, "credential"},
		{"autologin with locker", Request{AutoLogin: true, Locker: "finance", Username: "x"}, providers.InvalidArgument, "auto-login"},
		{"huge locker", Request{Locker: huge, Credential: "pdf"}, providers.InvalidArgument, "locker is 1000000 bytes long; at most 128 are allowed"},
		{"invalid utf-8", Request{Locker: "finance", Credential: "p\xffdf"}, providers.InvalidArgument, "credential is not valid UTF-8"},
		{"too many attributes", Request{Locker: "finance", Credential: "pdf", Attributes: make([]string, 65)}, providers.InvalidArgument, "65 attributes"},
		{"empty attribute", Request{Locker: "finance", Credential: "pdf", Attributes: []string{""}}, providers.InvalidArgument, "attribute name is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.b.Resolve(ctxAs(bot), c.req)
			e := wantCode(t, err, c.code)
			if !strings.Contains(e.Message(), c.want) {
				t.Errorf("message %q does not mention %q", e.Message(), c.want)
			}
			if len(e.Message()) > 400 || strings.Contains(e.Message(), "\n") {
				t.Errorf("message is %d bytes or several lines: %.200q", len(e.Message()), e.Message())
			}
			if len(err.Error()) > 600 {
				t.Errorf("error text is %d bytes", len(err.Error()))
			}
		})
	}
}

func TestNameTooLongForProvider(t *testing.T) {
	f := newFixture(t)
	// 256 characters of '.' become 1024 characters on AWS: over its 512.
	_, err := f.b.Resolve(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Username: strings.Repeat(".", 256)})
	wantCode(t, err, providers.InvalidArgument)
	var re *naming.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("error %v does not carry the naming rule", err)
	}
}

func TestResolveOrderAcrossPlaces(t *testing.T) {
	f := newFixture(t)
	cands, err := f.b.Resolve(ctxAs(bot), Request{Locker: "ha", Credential: "glaccess", Username: `ABCD\RPA.user123`})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cands {
		got = append(got, fmt.Sprintf("%d %s %s/%s", c.Place, c.Scope, c.Location, c.Name))
	}
	want := "[0 USER finance/glaccess_ABCD--RPA-2e-user123 0 SYSTEM finance/glaccess 1 USER /accounting-5f-glaccess-5f-ABCD--RPA-2e-user123 1 SYSTEM /accounting-5f-glaccess]"
	if fmt.Sprint(got) != want {
		t.Fatalf("candidates\n%v\nwant\n%s", got, want)
	}
	if f.ark.calls()+f.az.calls() != 0 {
		t.Fatal("Resolve read secrets")
	}
}

func TestFailoverAndBack(t *testing.T) {
	f := newFixture(t)
	f.ark.secrets["finance/glaccess"] = map[string]string{"password": "from-cyberark"}
	f.az.secrets["accounting-5f-glaccess"] = map[string]string{"password": "from-azure"}
	get := func() *Result {
		t.Helper()
		res, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "ha", Credential: "glaccess"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := get(); res.Served.Place != 0 || res.Secret.Attributes["password"] != "from-cyberark" {
		t.Fatalf("healthy: served %+v", res.Served)
	}
	for _, code := range []providers.Code{providers.Unavailable, providers.ResourceExhausted} {
		f.ark.down = code
		res := get()
		if res.Served.Place != 1 || res.Served.Provider != "azure-dr" || res.Secret.Attributes["password"] != "from-azure" {
			t.Fatalf("%v: served %+v", code, res.Served)
		}
		if e := f.audit.last(t); e.Place != 1 || e.Provider != "azure-dr" {
			t.Fatalf("audit %+v", e)
		}
	}
	f.ark.down = providers.OK
	if res := get(); res.Served.Place != 0 {
		t.Fatalf("recovered: served %+v, want the first place again", res.Served)
	}
	// A denial by the vault is not a reason to fail over.
	f.ark.down = providers.PermissionDenied
	_, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "ha", Credential: "glaccess"})
	wantCode(t, err, providers.PermissionDenied)
	// NotFound fails over only when the locker says so.
	f.ark.down = providers.OK
	delete(f.ark.secrets, "finance/glaccess")
	_, err = f.b.GetCredential(ctxAs(bot), Request{Locker: "ha", Credential: "glaccess"})
	wantCode(t, err, providers.NotFound)
	g := newFixture(t, func(f *fixture) { f.failoverOnNF = true })
	g.az.secrets["accounting-5f-glaccess"] = map[string]string{"password": "migrated"}
	res, err := g.b.GetCredential(ctxAs(bot), Request{Locker: "ha", Credential: "glaccess"})
	if err != nil || res.Secret.Attributes["password"] != "migrated" {
		t.Fatalf("failover on NotFound: %v %v", res, err)
	}
}

func TestDeniedBeforeAnyVaultCall(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.authz = &authz{
			decide: func(p auth.Principal, a auth.Action) auth.Decision {
				ok := a.Op == auth.OpList || a.Locker == "finance" && (a.Username == "" || strings.HasPrefix(a.Username, `ABCD\bot-`))
				if ok {
					return auth.Decision{Allowed: true, Rule: "clients[0] bots"}
				}
				return auth.Decision{Rule: "default deny"}
			},
			visible: func(p auth.Principal, l string) bool { return l == "finance" },
		}
	})
	f.aws.secrets["accounting_pdf"] = map[string]string{"password": "system"}
	f.ark.secrets["finance/glaccess"] = map[string]string{"password": "x"}
	// Another user's credential: denied, no vault call, precise reason.
	_, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`})
	e := wantCode(t, err, providers.PermissionDenied)
	if e.Message() != `get credential "pdf" in locker "finance" for user "ABCD\\user123": credential is not granted to "bot-pool-a" for user "ABCD\\user123"` {
		t.Fatalf("message %q", e.Message())
	}
	// A locker outside the grant and a locker that does not exist look the same.
	_, err1 := f.b.GetCredential(ctxAs(bot), Request{Locker: "gl", Credential: "glaccess"})
	_, err2 := f.b.GetCredential(ctxAs(bot), Request{Locker: "nope", Credential: "glaccess"})
	e1, e2 := wantCode(t, err1, providers.PermissionDenied), wantCode(t, err2, providers.PermissionDenied)
	if strings.ReplaceAll(e1.Message(), `"gl"`, `"X"`) != strings.ReplaceAll(e2.Message(), `"nope"`, `"X"`) {
		t.Fatalf("denied and missing differ:\n%s\n%s", e1.Message(), e2.Message())
	}
	if f.aws.calls()+f.ark.calls()+f.az.calls() != 0 {
		t.Fatalf("denied requests made %d vault calls", f.aws.calls()+f.ark.calls()+f.az.calls())
	}
	if a := f.audit.last(t); a.Decision != "denied" || a.Rule != "default deny" || a.Code != "PermissionDenied" {
		t.Fatalf("audit %+v", a)
	}
	// Its own bot user and the system credential are served.
	if _, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Username: `ABCD\bot-7`}); err != nil {
		t.Fatal(err)
	}
	// ListLockers shows only what it may use.
	ls, err := f.b.Lockers(ctxAs(bot))
	if err != nil || len(ls) != 1 || ls[0].Name != "finance" {
		t.Fatalf("lockers %+v %v", ls, err)
	}
}

func TestRateLimitedAndUnauthenticated(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.authz.decide = func(auth.Principal, auth.Action) auth.Decision {
			return auth.Decision{Limited: true, RetryAfter: 250 * time.Millisecond, Rule: "rate limit"}
		}
	})
	_, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf"})
	if e := wantCode(t, err, providers.ResourceExhausted); e.RetryAfter != 250*time.Millisecond {
		t.Fatalf("retry after %v", e.RetryAfter)
	}
	if a := f.audit.last(t); a.Decision != "limited" {
		t.Fatalf("audit %+v", a)
	}
	_, err = f.b.GetCredential(context.Background(), Request{Locker: "finance", Credential: "pdf"})
	wantCode(t, err, providers.PermissionDenied)
	if f.aws.calls() != 0 {
		t.Fatal("vault called")
	}
}

func TestAuditFailsClosed(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf"] = map[string]string{"password": "pw"}
	f.audit.fail = errors.New("disk full")
	res, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf"})
	if res != nil {
		t.Fatal("served a credential whose audit entry was not written")
	}
	if e := wantCode(t, err, providers.Unavailable); !strings.Contains(e.Message(), "audit trail") {
		t.Fatalf("message %q", e.Message())
	}
	g := newFixture(t, func(f *fixture) { f.auditFailOpen = true })
	g.aws.secrets["accounting_pdf"] = map[string]string{"password": "pw"}
	g.audit.fail = errors.New("disk full")
	if _, err := g.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf"}); err != nil {
		t.Fatalf("fail open: %v", err)
	}
}

func TestFreshAndStalePassThrough(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf"] = map[string]string{"password": "pw"}
	f.aws.stale = true
	res, err := f.b.GetCredential(ctxAs(bot), Request{Locker: "finance", Credential: "pdf", Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stale || !f.aws.asked[0].Fresh {
		t.Fatalf("stale %v fresh %v", res.Stale, f.aws.asked[0].Fresh)
	}
	if a := f.audit.last(t); !a.Stale || a.Cache != "bypass" {
		t.Fatalf("audit %+v", a)
	}
}

func TestPutDelete(t *testing.T) {
	f := newFixture(t)
	ctx := ctxAs(bot)
	req := Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}
	c, err := f.b.Put(ctx, req, &providers.Secret{Attributes: map[string]string{"password": "new-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "accounting_pdf_ABCD--user123" || c.Scope != ScopeUser {
		t.Fatalf("put went to %+v", c)
	}
	if _, err := f.b.Delete(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err = f.b.Delete(ctx, req)
	wantCode(t, err, providers.NotFound)
	_, err = f.b.Put(ctx, Request{Locker: "gl", Credential: "glaccess"}, &providers.Secret{Attributes: map[string]string{"password": "x"}})
	if e := wantCode(t, err, providers.FailedPrecondition); !strings.Contains(e.Message(), "not writable") {
		t.Fatalf("message %q", e.Message())
	}
	_, err = f.b.Put(ctx, req, &providers.Secret{})
	wantCode(t, err, providers.InvalidArgument)
	_, err = f.b.Put(ctx, req, &providers.Secret{Attributes: map[string]string{"password": strings.Repeat("x", MaxAttributeValue+1)}})
	wantCode(t, err, providers.InvalidArgument)
}

func TestAuditHasNoSecrets(t *testing.T) {
	f := newFixture(t)
	const pw = "Sup3r-S3cret-Value"
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": pw}
	ctx := ctxAs(bot)
	if _, err := f.b.GetCredential(ctx, Request{Locker: "finance", Credential: "pdf", Username: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Put(ctx, Request{Locker: "finance", Credential: "new"}, &providers.Secret{Attributes: map[string]string{"password": pw}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.audit.entries {
		if s := fmt.Sprintf("%+v", *e); strings.Contains(s, pw) {
			t.Fatalf("audit entry carries a secret value: %s", s)
		}
	}
}

func TestNewRejectsBadWiring(t *testing.T) {
	mem := newMem(false)
	aws := []Provider{{Name: "a", Provider: mem, Scheme: scheme(t, naming.AWS)}}
	ark := []Provider{{Name: "a", Provider: mem, Scheme: scheme(t, naming.CyberArk)}}
	base := func(p []Provider, l ...Locker) Options {
		return Options{Providers: p, Lockers: l, Authorizer: allowAll(), Auditor: &auditor{}}
	}
	cases := map[string]Options{
		"unknown provider":   base(aws, Locker{Name: "l", Places: []Place{{Provider: "b", Prefix: "p"}}}),
		"no places":          base(aws, Locker{Name: "l"}),
		"safe on aws":        base(aws, Locker{Name: "l", Places: []Place{{Provider: "a", Safe: "s"}}}),
		"prefix on cyberark": base(ark, Locker{Name: "l", Places: []Place{{Provider: "a", Prefix: "p", Safe: "s"}}}),
		"safe too long":      base(ark, Locker{Name: "l", Places: []Place{{Provider: "a", Safe: strings.Repeat("s", 29)}}}),
		"duplicate provider": base(append(aws, aws...)),
		"bad template":       base(aws, Locker{Name: "l", Places: []Place{{Provider: "a", Prefix: "p"}}, UsernameTemplate: "$domain"}),
		"no authorizer":      {Providers: aws, Auditor: &auditor{}},
		"no auditor":         {Providers: aws, Authorizer: allowAll()},
	}
	for name, opts := range cases {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
