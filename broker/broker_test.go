package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// memProvider is an in-memory provider for the broker's own tests: it
// records what was asked and can fail named secrets with a code.
type memProvider struct {
	mu      sync.Mutex
	secrets map[string]map[string]string // location/name -> attributes
	fail    map[string]providers.Code    // location/name -> code
	asked   []providers.Ref
}

type memError struct{ code providers.Code }

func (e memError) Error() string { return "mem: " + e.code.String() }

func newMem() *memProvider {
	return &memProvider{secrets: map[string]map[string]string{}, fail: map[string]providers.Code{}}
}

func (m *memProvider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, ref)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c, ok := m.fail[ref.String()]; ok {
		return nil, memError{c}
	}
	a, ok := m.secrets[ref.String()]
	if !ok {
		return nil, memError{providers.NotFound}
	}
	return (&providers.Secret{Attributes: a, Version: "1"}).Clone(), nil
}

func (m *memProvider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets[ref.String()] = s.Clone().Attributes
	return nil
}

func (m *memProvider) Delete(ctx context.Context, ref providers.Ref) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.secrets[ref.String()]; !ok {
		return memError{providers.NotFound}
	}
	delete(m.secrets, ref.String())
	return nil
}

func (m *memProvider) Code(err error) providers.Code {
	var e memError
	if errors.As(err, &e) {
		return e.code
	}
	return providers.Unknown
}

func (m *memProvider) Close() error { return nil }

func scheme(t *testing.T, kind string) *naming.Scheme {
	t.Helper()
	s, err := naming.NewScheme(kind, naming.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	b        *Broker
	aws, ark *memProvider
	logs     *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{aws: newMem(), ark: newMem(), logs: &bytes.Buffer{}}
	b, err := New(Options{
		Backends: []Backend{
			{Name: "aws-prod", Provider: f.aws, Scheme: scheme(t, naming.AWS), Writable: true},
			{Name: "ark", Provider: f.ark, Scheme: scheme(t, naming.CyberArk)},
		},
		Lockers: []Locker{
			{Name: "finance", Backend: "aws-prod", Prefix: "accounting"},
			{Name: "gl", Backend: "ark", Safe: "finance", UsernameTemplate: `$domain$\$username$`},
		},
		AutoLogin: &AutoLogin{Backend: "ark", Safe: "AutoLogin", Mapping: map[string]string{`ABCD\svc`: "svc-login"}},
		Logger:    slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

func TestUserCredentialPreferred(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf_ABCD--user123"] = map[string]string{"username": "u", "password": "user-pw"}
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": "system-pw"}
	res, err := f.b.GetCredential(context.Background(), Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Scope != ScopeUser || res.Secret.Attributes["password"] != "user-pw" || res.Served.Name != "accounting_pdf_ABCD--user123" {
		t.Fatalf("served %+v with %d attributes, want the user-defined credential", res.Served, len(res.Secret.Attributes))
	}
}

func TestFallbackToSystemOnlyOnNotFound(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": "system-pw"}
	req := Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}
	res, err := f.b.GetCredential(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Scope != ScopeSystem || res.Secret.Attributes["password"] != "system-pw" {
		t.Fatalf("served %+v, want the system credential", res.Served)
	}
	for _, code := range []providers.Code{providers.PermissionDenied, providers.Unavailable, providers.Internal} {
		f.aws.fail["accounting_pdf_ABCD--user123"] = code
		_, err := f.b.GetCredential(context.Background(), req, nil)
		var e *Error
		if !errors.As(err, &e) || e.Code != code {
			t.Fatalf("user lookup failing with %v: got %v, want that code and no fallback", code, err)
		}
		if len(e.Tried) != 1 || e.Tried[0].Scope != ScopeUser {
			t.Errorf("tried %v, want only the user-defined credential", e.Tried)
		}
	}
}

func TestNotFoundNamesEverythingTried(t *testing.T) {
	f := newFixture(t)
	_, err := f.b.GetCredential(context.Background(), Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != providers.NotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
	msg := e.Message()
	for _, want := range []string{`"accounting_pdf_ABCD--user123"`, `"accounting_pdf"`, `provider "aws-prod"`, `locker "finance"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %s", msg, want)
		}
	}
	if strings.Contains(msg, "mem:") {
		t.Errorf("message %q carries the inner error text", msg)
	}
}

func TestAutoLogin(t *testing.T) {
	f := newFixture(t)
	f.ark.secrets["AutoLogin/autologin_john"] = map[string]string{"username": "john", "password": "pw"}
	res, err := f.b.GetAutoLogin(context.Background(), "john", "test")
	if err != nil {
		t.Fatal(err)
	}
	if res.LoginName != "john" || res.Served.Location != "AutoLogin" {
		t.Fatalf("got %+v login %q", res.Served, res.LoginName)
	}
	// The mapping is used verbatim.
	f.ark.secrets["AutoLogin/svc-login"] = map[string]string{"username": "svc", "password": "pw"}
	res, err = f.b.GetAutoLogin(context.Background(), `ABCD\svc`, "test")
	if err != nil || !res.Served.Mapped || res.Served.Name != "svc-login" {
		t.Fatalf("mapped auto-login: %+v, %v", res, err)
	}
	// A missing one names the secret, where, and the username.
	_, err = f.b.GetAutoLogin(context.Background(), "user123@rpa.abcd.com", "test")
	var e *Error
	if !errors.As(err, &e) || e.Code != providers.NotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
	for _, want := range []string{`"autologin_user123-40-rpa-2e-abcd-2e-com"`, `safe "AutoLogin"`, `user "user123@rpa.abcd.com"`} {
		if !strings.Contains(e.Message(), want) {
			t.Errorf("message %q does not contain %s", e.Message(), want)
		}
	}
}

func TestUsernameTemplate(t *testing.T) {
	f := newFixture(t)
	f.ark.secrets["finance/glaccess"] = map[string]string{"username": "gl", "domain": "ACME", "password": "pw"}
	res, err := f.b.GetCredential(context.Background(), Request{Locker: "gl", Credential: "glaccess"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.LoginName != `ACME\gl` {
		t.Fatalf("login name %q, want ACME\\gl", res.LoginName)
	}
	f.ark.secrets["finance/nodomain"] = map[string]string{"username": "gl", "password": "s3cr3t-value"}
	_, err = f.b.GetCredential(context.Background(), Request{Locker: "gl", Credential: "nodomain"}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != providers.FailedPrecondition || !strings.Contains(e.Message(), "domain") {
		t.Fatalf("got %v, want FailedPrecondition naming the missing field", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("error carries a secret value: %v", err)
	}
}

func TestAttributeFilter(t *testing.T) {
	f := newFixture(t)
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": "pw", "url": "https://x"}
	res, err := f.b.GetCredential(context.Background(), Request{Locker: "finance", Credential: "pdf"}, []string{"password"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Secret.Attributes) != 1 || res.Secret.Attributes["password"] != "pw" {
		t.Fatalf("got keys %v, want only password", res.Secret)
	}
	_, err = f.b.GetCredential(context.Background(), Request{Locker: "finance", Credential: "pdf"}, []string{"otp"})
	var e *Error
	if !errors.As(err, &e) || e.Code != providers.NotFound || !strings.Contains(e.Message(), `"otp"`) {
		t.Fatalf("got %v, want NotFound naming the attribute", err)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		req  Request
		code providers.Code
		want string
	}{
		{"unknown locker", Request{Locker: "nope", Credential: "pdf"}, providers.FailedPrecondition, "unknown locker"},
		{"no locker", Request{Credential: "pdf"}, providers.InvalidArgument, "locker is required"},
		{"long username", Request{Locker: "finance", Credential: "pdf", Username: strings.Repeat("u", 300)}, providers.InvalidArgument, "username"},
		{"control char", Request{Locker: "finance", Credential: "pdf", Username: "a\x07b"}, providers.InvalidArgument, "username"},
		{"empty credential", Request{Locker: "finance"}, providers.InvalidArgument, "credential"},
		{"autologin with locker", Request{AutoLogin: true, Locker: "finance", Username: "x"}, providers.InvalidArgument, "auto-login"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.b.Resolve(context.Background(), c.req)
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code {
				t.Fatalf("got %v, want code %v", err, c.code)
			}
			if !strings.Contains(e.Message(), c.want) {
				t.Errorf("message %q does not mention %q", e.Message(), c.want)
			}
			if strings.Count(e.Message(), "\n") > 0 {
				t.Errorf("message %q is more than one line", e.Message())
			}
		})
	}
}

func TestNameTooLongForProvider(t *testing.T) {
	f := newFixture(t)
	// 256 characters of '.' become 1024 characters on AWS: over its 512.
	_, err := f.b.Resolve(context.Background(), Request{Locker: "finance", Credential: "pdf", Username: strings.Repeat(".", 256)})
	var e *Error
	if !errors.As(err, &e) || e.Code != providers.InvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	var re *naming.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("error %v does not carry the naming rule", err)
	}
}

func TestResolveOrder(t *testing.T) {
	f := newFixture(t)
	cands, err := f.b.Resolve(context.Background(), Request{Locker: "gl", Credential: "glaccess", Username: `ABCD\RPA.user123`})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(cands[0].Name, " ", cands[0].Location, " ", cands[1].Name)
	if got != "glaccess_ABCD--RPA-2e-user123 finance glaccess" {
		t.Fatalf("candidates %q", got)
	}
	if len(f.ark.asked) != 0 {
		t.Fatalf("Resolve read %d secrets, want none", len(f.ark.asked))
	}
}

func TestPutDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
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
	var e *Error
	if !errors.As(err, &e) || e.Code != providers.NotFound {
		t.Fatalf("second delete: %v, want NotFound", err)
	}
	_, err = f.b.Put(ctx, Request{Locker: "gl", Credential: "glaccess"}, &providers.Secret{Attributes: map[string]string{"password": "x"}})
	if !errors.As(err, &e) || e.Code != providers.FailedPrecondition || !strings.Contains(e.Message(), "not writable") {
		t.Fatalf("put to read-only: %v, want FailedPrecondition", err)
	}
	_, err = f.b.Put(ctx, req, &providers.Secret{})
	if !errors.As(err, &e) || e.Code != providers.InvalidArgument {
		t.Fatalf("put without attributes: %v, want InvalidArgument", err)
	}
}

func TestAuditLogHasNoSecrets(t *testing.T) {
	f := newFixture(t)
	const pw = "Sup3r-S3cret-Value"
	f.aws.secrets["accounting_pdf"] = map[string]string{"username": "s", "password": pw}
	ctx := context.Background()
	if _, err := f.b.GetCredential(ctx, Request{Locker: "finance", Credential: "pdf", Username: "x", Caller: "bot-7"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Put(ctx, Request{Locker: "finance", Credential: "new"}, &providers.Secret{Attributes: map[string]string{"password": pw}}); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if strings.Contains(logs, pw) {
		t.Fatalf("audit log carries a secret value:\n%s", logs)
	}
	if !strings.Contains(logs, "caller=bot-7") || !strings.Contains(logs, "scope=SYSTEM") {
		t.Fatalf("audit log lacks caller or scope:\n%s", logs)
	}
}

func TestNewRejectsBadWiring(t *testing.T) {
	mem := newMem()
	cases := map[string]Options{
		"unknown backend": {Backends: []Backend{{Name: "a", Provider: mem, Scheme: scheme(t, naming.AWS)}},
			Lockers: []Locker{{Name: "l", Backend: "b", Prefix: "p"}}},
		"safe on aws": {Backends: []Backend{{Name: "a", Provider: mem, Scheme: scheme(t, naming.AWS)}},
			Lockers: []Locker{{Name: "l", Backend: "a", Safe: "s"}}},
		"prefix on cyberark": {Backends: []Backend{{Name: "a", Provider: mem, Scheme: scheme(t, naming.CyberArk)}},
			Lockers: []Locker{{Name: "l", Backend: "a", Prefix: "p", Safe: "s"}}},
		"safe too long": {Backends: []Backend{{Name: "a", Provider: mem, Scheme: scheme(t, naming.CyberArk)}},
			Lockers: []Locker{{Name: "l", Backend: "a", Safe: strings.Repeat("s", 29)}}},
		"duplicate backend": {Backends: []Backend{{Name: "a", Provider: mem, Scheme: scheme(t, naming.AWS)},
			{Name: "a", Provider: mem, Scheme: scheme(t, naming.AWS)}}},
		"bad template": {Backends: []Backend{{Name: "a", Provider: mem, Scheme: scheme(t, naming.AWS)}},
			Lockers: []Locker{{Name: "l", Backend: "a", Prefix: "p", UsernameTemplate: "$domain"}}},
	}
	for name, opts := range cases {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
