package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// recordingAuthz allows everything and remembers the actions it was asked.
func recordingAuthz(f *fixture) *[]auth.Action {
	var mu sync.Mutex
	var asked []auth.Action
	f.authz.decide = func(_ auth.Principal, a auth.Action) auth.Decision {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, a)
		return auth.Decision{Allowed: true, Rule: "test allow"}
	}
	return &asked
}

func TestGetObjectPrefixPlace(t *testing.T) {
	var asked *[]auth.Action
	f := newFixture(t, func(f *fixture) { asked = recordingAuthz(f) })
	f.aws.secrets["accounting_glaccess_ABCD--RPA-2e-user123"] = map[string]string{"username": "u", "password": "pw"}
	f.aws.secrets["accounting_glaccess"] = map[string]string{"username": "s", "password": "system-pw"}
	res, err := f.b.GetObject(auth.WithPurpose(ctxAs(bot), "ccp run"), ObjectRequest{Locker: "finance", Object: `glaccess_ABCD\RPA.user123`})
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Name != "accounting_glaccess_ABCD--RPA-2e-user123" || res.Served.Scope != ScopeObject ||
		res.Served.Logical != `accounting_glaccess_ABCD\RPA.user123` || res.Secret.Attributes["password"] != "pw" {
		t.Fatalf("served %+v", res.Served)
	}
	if len(f.aws.asked) != 1 || f.aws.asked[0].Name != "accounting_glaccess_ABCD--RPA-2e-user123" || f.aws.asked[0].Location != "" ||
		f.aws.asked[0].Reason != "secretbroker for bot-pool-a: ccp run" {
		t.Fatalf("vault asked %+v", f.aws.asked)
	}
	want := []auth.Action{{Op: auth.OpCredential, Locker: "finance", Username: `glaccess_ABCD\RPA.user123`}}
	if fmt.Sprint(*asked) != fmt.Sprint(want) {
		t.Fatalf("authorized %+v, want %+v", *asked, want)
	}
	e := f.audit.last(t)
	if e.Operation != "credential" || e.Locker != "finance" || e.Credential != `glaccess_ABCD\RPA.user123` || e.Username != "" ||
		fmt.Sprint(e.Tried) != "[OBJECT accounting_glaccess_ABCD--RPA-2e-user123 @aws-prod]" || e.Scope != "OBJECT" ||
		e.Served != "accounting_glaccess_ABCD--RPA-2e-user123" || e.Purpose != "ccp run" || e.Code != "OK" {
		t.Fatalf("audit %+v", e)
	}
}

func TestGetObjectCyberArkPlaceNoTemplate(t *testing.T) {
	f := newFixture(t)
	// Locker gl has the template $domain$\$username$; the secret has no
	// domain, and GetObject serves it anyway (CCP clients build the login).
	f.ark.secrets["finance/glaccess_ABCD--RPA-2e-user123"] = map[string]string{"username": "u", "password": "pw"}
	res, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "gl", Object: `glaccess_ABCD\RPA.user123`})
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Location != "finance" || res.Served.Name != "glaccess_ABCD--RPA-2e-user123" || res.LoginName != "" {
		t.Fatalf("served %+v, login %q", res.Served, res.LoginName)
	}
}

func TestGetObjectNoFallbackButFailover(t *testing.T) {
	f := newFixture(t)
	f.ark.secrets["finance/glaccess"] = map[string]string{"password": "system"}
	_, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "ha", Object: `glaccess_ABCD\RPA.user123`})
	e := wantCode(t, err, providers.NotFound)
	want := `get object "glaccess_ABCD\\RPA.user123" in locker "ha": secret not found (tried OBJECT "glaccess_ABCD--RPA-2e-user123" in provider "ark" (cyberark, safe "finance"))`
	if e.Message() != want {
		t.Fatalf("message\n%s\nwant\n%s", e.Message(), want)
	}
	f.ark.down = providers.Unavailable
	f.az.secrets["accounting-5f-glaccess-5f-ABCD--RPA-2e-user123"] = map[string]string{"password": "from-azure"}
	res, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "ha", Object: `glaccess_ABCD\RPA.user123`, Attributes: []string{"password"}, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Place != 1 || res.Served.Provider != "azure-dr" || res.Secret.Attributes["password"] != "from-azure" || !f.az.asked[0].Fresh {
		t.Fatalf("failover served %+v", res.Served)
	}
	if got := fmt.Sprint(f.audit.last(t).Tried); got != "[OBJECT glaccess_ABCD--RPA-2e-user123 @ark OBJECT accounting-5f-glaccess-5f-ABCD--RPA-2e-user123 @azure-dr]" {
		t.Fatalf("audit tried %s", got)
	}
}

func TestGetObjectDeniedBeforeVault(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.authz = &authz{
			decide: func(p auth.Principal, a auth.Action) auth.Decision {
				if a.Locker == "finance" && strings.HasPrefix(a.Username, "pdf_") {
					return auth.Decision{Allowed: true, Rule: "clients[0] ccp"}
				}
				return auth.Decision{Rule: "default deny"}
			},
			visible: func(p auth.Principal, l string) bool { return l == "finance" },
		}
	})
	f.aws.secrets["accounting_glaccess"] = map[string]string{"password": "pw"}
	_, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "finance", Object: "glaccess"})
	e := wantCode(t, err, providers.PermissionDenied)
	if want := `get object "glaccess" in locker "finance": credential is not granted to "bot-pool-a" for user "glaccess"`; e.Message() != want {
		t.Fatalf("message %q\nwant    %q", e.Message(), want)
	}
	_, err = f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "gl", Object: "pdf_x"})
	if e := wantCode(t, err, providers.PermissionDenied); e.Message() != `get object "pdf_x" in locker "gl": locker "gl" does not exist or is not granted to you` {
		t.Fatalf("message %q", e.Message())
	}
	if n := f.aws.calls() + f.ark.calls() + f.az.calls(); n != 0 {
		t.Fatalf("denied requests made %d vault calls", n)
	}
	if a := f.audit.last(t); a.Decision != "denied" || a.Credential != "pdf_x" || a.Username != "" || a.Code != "PermissionDenied" {
		t.Fatalf("audit %+v", a)
	}
	if _, err := f.b.GetObject(context.Background(), ObjectRequest{Locker: "finance", Object: "pdf_x"}); err == nil {
		t.Fatal("served a caller without a principal")
	}
	if !f.b.LockerVisible(ctxAs(bot), "finance") || f.b.LockerVisible(ctxAs(bot), "gl") || f.b.LockerVisible(context.Background(), "finance") {
		t.Fatal("LockerVisible does not follow the Authorizer and the principal")
	}
}

func TestGetObjectBadRequests(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		req  ObjectRequest
		code providers.Code
		want string
	}{
		{"empty object", ObjectRequest{Locker: "finance"}, providers.InvalidArgument,
			`object is empty: it must have 1 to 256 characters`},
		{"control character", ObjectRequest{Locker: "finance", Object: "a\x07b"}, providers.InvalidArgument,
			`get object "a\ab" in locker "finance": object "a\ab" contains the control character U+0007 at offset 1`},
		{"too long", ObjectRequest{Locker: "finance", Object: strings.Repeat("o", 300)}, providers.InvalidArgument,
			"object is 300 bytes long; at most 256 are allowed"},
		{"no locker", ObjectRequest{Object: "glaccess"}, providers.InvalidArgument, "locker is required"},
		{"unknown locker", ObjectRequest{Locker: "nope", Object: "glaccess"}, providers.FailedPrecondition, `unknown locker "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.b.GetObject(ctxAs(bot), c.req)
			e := wantCode(t, err, c.code)
			if !strings.Contains(e.Message(), c.want) {
				t.Errorf("message %q does not contain %q", e.Message(), c.want)
			}
		})
	}
	// 256 dots fit the request but not AWS once encoded (1024 > 512).
	_, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "finance", Object: strings.Repeat(".", 250)})
	wantCode(t, err, providers.InvalidArgument)
	var re *naming.RuleError
	if !errors.As(err, &re) || f.aws.calls() != 0 {
		t.Fatalf("error %v without the naming rule, or %d vault calls", err, f.aws.calls())
	}
}

func TestGetAutoLoginObject(t *testing.T) {
	var asked *[]auth.Action
	f := newFixture(t, func(f *fixture) { asked = recordingAuthz(f) })
	f.ark.secrets["AutoLogin/autologin_john"] = map[string]string{"username": "john", "password": "pw"}
	f.ark.secrets["AutoLogin/svc-login"] = map[string]string{"username": "svc", "password": "pw2"}
	res, err := f.b.GetAutoLoginObject(ctxAs(bot), "autologin_john", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Served.Scope != ScopeAutoLogin || res.Served.Name != "autologin_john" || res.LoginName != "john" {
		t.Fatalf("served %+v", res.Served)
	}
	if e := f.audit.last(t); e.Operation != "autologin" || e.Username != "john" {
		t.Fatalf("audit %+v", e)
	}
	res, err = f.b.GetAutoLoginObject(ctxAs(bot), "svc-login", true)
	if err != nil || res.Served.Name != "svc-login" || !res.Served.Mapped || !f.ark.asked[1].Fresh {
		t.Fatalf("mapped name: %+v %v", res, err)
	}
	want := []auth.Action{{Op: auth.OpAutoLogin, Username: "john"}, {Op: auth.OpAutoLogin, Username: `ABCD\svc`}}
	if fmt.Sprint(*asked) != fmt.Sprint(want) {
		t.Fatalf("authorized %+v, want %+v", *asked, want)
	}
	// john is mapped nowhere but his format name exists; ABCD\svc is mapped,
	// so the format name of ABCD\svc names nobody.
	_, err = f.b.GetAutoLoginObject(ctxAs(bot), `autologin_ABCD\svc`, false)
	e := wantCode(t, err, providers.NotFound)
	if want := `get auto-login object "autologin_ABCD\\svc": no single Control Room user has this auto-login name (format "autologin_{username}" or a name of the mapping)`; e.Message() != want {
		t.Fatalf("message %q\nwant    %q", e.Message(), want)
	}
	if a := f.audit.last(t); a.Operation != "autologin" || a.Credential != `autologin_ABCD\svc` || a.Code != "NotFound" || a.Decision != "allowed" {
		t.Fatalf("audit %+v", a)
	}
	if f.ark.calls() != 2 {
		t.Fatalf("%d vault calls, want 2", f.ark.calls())
	}
}

func TestGetAutoLoginObjectNotConfigured(t *testing.T) {
	b, err := New(Options{
		Providers:  []Provider{{Name: "a", Provider: newMem(false), Scheme: scheme(t, naming.AWS)}},
		Authorizer: allowAll(), Auditor: &auditor{},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.GetAutoLoginObject(ctxAs(bot), "autologin_john", false)
	wantCode(t, err, providers.FailedPrecondition)
	_, err = b.GetAutoLoginObject(ctxAs(bot), "x\x00", false)
	if e := wantCode(t, err, providers.InvalidArgument); !strings.Contains(e.Message(), `object "x\x00" contains the control character U+0000`) {
		t.Fatalf("message %q", e.Message())
	}
}

func TestGetObjectKeepsSecretsOutOfErrorsAndAudit(t *testing.T) {
	f := newFixture(t)
	const pw = "Sup3r-S3cret-Value"
	f.aws.secrets["accounting_glaccess"] = map[string]string{"password": pw}
	if _, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "finance", Object: "glaccess"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.b.GetObject(ctxAs(bot), ObjectRequest{Locker: "finance", Object: "glaccess", Attributes: []string{"otp"}})
	if e := wantCode(t, err, providers.NotFound); strings.Contains(err.Error(), pw) || !strings.Contains(e.Message(), `"otp"`) {
		t.Fatalf("error %v", err)
	}
	for _, e := range f.audit.entries {
		if s := fmt.Sprintf("%+v", *e); strings.Contains(s, pw) {
			t.Fatalf("audit entry carries a secret value: %s", s)
		}
	}
}
