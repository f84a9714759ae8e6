package ccp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/broker/ccp"
	"github.com/secretbroker/secretbroker/internal/testpki"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/policy"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// The secrets of the tests. Every one must stay out of logs and the audit.
const (
	glPassword    = "Gl-S3cret/Value+1"
	sysPassword   = "Sys-S3cret-Value"
	alPassword    = "Al-S3cret-Value"
	svcPassword   = "Svc-S3cret-Value"
	rotatingValue = "Rot-S3cret-Value"
)

var allSecrets = []string{glPassword, sysPassword, alPassword, svcPassword, rotatingValue}

// lockedBuffer is a log destination the server goroutines write while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a CCP endpoint on loopback in front of a broker whose lockers live
// in providertest.Memory vaults, with a policy and a real audit file.
type env struct {
	t         *testing.T
	ca        *testpki.CA
	dir       string
	caFile    string
	aws, ark  *providertest.Memory // locker finance (aws, prefix accounting) and gl (cyberark, Safe GL)
	store     *providertest.Memory // auto-login (embedded kind)
	ts        *httptest.Server
	logs      *lockedBuffer
	auditPath string
	requests  atomic.Int64 // requests that reached the handler

	mu   sync.Mutex
	refs []providers.Ref // every Get of the aws vault
}

// identities of the client certificates env issues.
const (
	controlRoom = "control-room"   // may read finance, gl and auto-login
	limitedBot  = "limited-bot"    // finance only, objects of ABCD\bot-* users
	uipath      = "uipath-orch"    // granted through ccp:UiPath@uipath-orch only
	throttled   = "throttled-user" // one request, then rate limited
	nobody      = "nobody"         // no rule
)

var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), aws: providertest.NewMemory(), ark: providertest.NewMemory(), store: providertest.NewMemory(), logs: &lockedBuffer{}}
	e.ca = testpki.Must(testpki.NewCA("ccp test CA"))
	e.caFile = testpki.Must(testpki.WritePEM(e.dir, "ca.pem", e.ca.CertPEM()))
	e.aws.SetHook(func(_ context.Context, op providertest.Op, ref providers.Ref) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.refs = append(e.refs, ref)
		return nil
	})

	scheme := func(kind string) *naming.Scheme { return testpki.Must(naming.NewScheme(kind, naming.Options{})) }
	pol, err := policy.New(policy.Config{Clients: []policy.Client{
		{Name: "control room", Identities: []string{controlRoom}, Operations: []string{"credential", "autologin"}, Lockers: []string{"finance", "gl"}},
		{Name: "limited", Identities: []string{limitedBot}, Operations: []string{"credential"}, Lockers: []string{"finance"}, Usernames: []string{`*_ABCD\bot-*`}},
		{Name: "uipath", Identities: []string{"ccp:UiPath@" + uipath}, Operations: []string{"credential"}, Lockers: []string{"finance"}},
		{Name: "throttled", Identities: []string{throttled}, Operations: []string{"credential"}, Lockers: []string{"finance"},
			RateLimit: &policy.RateLimit{RPS: 0.001, Burst: 1}},
	}}, policy.WithClock(func() time.Time { return fixedNow }))
	if err != nil {
		t.Fatal(err)
	}
	e.auditPath = filepath.Join(e.dir, "audit.log")
	al, err := audit.Open(audit.Options{Path: e.auditPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := broker.New(broker.Options{
		Providers: []broker.Provider{
			{Name: "aws-prod", Provider: e.aws, Scheme: scheme(naming.AWS)},
			{Name: "ark", Provider: e.ark, Scheme: scheme(naming.CyberArk)},
			{Name: "store", Provider: e.store, Scheme: scheme(naming.Embedded)},
		},
		Lockers: []broker.Locker{
			{Name: "finance", Places: []broker.Place{{Provider: "aws-prod", Prefix: "accounting"}}},
			{Name: "gl", Places: []broker.Place{{Provider: "ark", Safe: "GL"}}},
		},
		AutoLogin:  &broker.AutoLogin{Provider: "store", Mapping: map[string]string{`ABCD\svc`: "svc-login"}},
		Authorizer: pol,
		Auditor:    al,
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	var bp atomic.Pointer[broker.Broker]
	bp.Store(b)
	h, err := ccp.New(ccp.Options{Broker: &bp, Safes: map[string]string{"finance": "finance", "GL": "gl"}, AutoLoginSafe: "RPA-AutoLogin", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}

	e.aws.Seed(providers.Ref{Name: "accounting_glaccess_ABCD--RPA-2e-user123"}, &providers.Secret{Attributes: map[string]string{
		"username": "RPA.user123", "password": glPassword, "domain": "ABCD", "url": "https://gl.example/login", "PolicyID": "WinDomain"}})
	e.aws.Seed(providers.Ref{Name: "accounting_glaccess"}, &providers.Secret{Attributes: map[string]string{"username": "gl-sys", "password": sysPassword}})
	e.aws.Seed(providers.Ref{Name: "accounting_rotating"}, &providers.Secret{Attributes: map[string]string{"username": "rot", "password": rotatingValue}, Rotating: true})
	e.ark.Seed(providers.Ref{Location: "GL", Name: "glaccess_ABCD--bot-2d-7"}, &providers.Secret{Attributes: map[string]string{"username": "bot-7", "password": glPassword}})
	e.store.Seed(providers.Ref{Name: "autologin_ABCD--user123"}, &providers.Secret{Attributes: map[string]string{"username": "user123", "domain": "ABCD", "password": alPassword}})
	e.store.Seed(providers.Ref{Name: "svc-login"}, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": svcPassword}})

	server := testpki.Must(e.ca.Issue(testpki.LeafOptions{CommonName: "localhost", Server: true}))
	e.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	e.ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{server.TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: e.ca.Pool()}
	e.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of a test
	e.ts.StartTLS()
	t.Cleanup(e.ts.Close)
	t.Cleanup(func() {
		// No secret value in any log line or audit entry, whatever the test did.
		trail, err := os.ReadFile(e.auditPath)
		if err != nil {
			t.Error(err)
		}
		for _, s := range allSecrets {
			if strings.Contains(e.logs.String(), s) {
				t.Errorf("a secret value is in the log:\n%s", e.logs.String())
			}
			if bytes.Contains(trail, []byte(s)) {
				t.Errorf("a secret value is in the audit trail:\n%s", trail)
			}
		}
	})
	return e
}

// client returns an HTTPS client presenting a certificate for identity
// issued by ca (the env's CA when nil; no certificate when identity is "").
func (e *env) client(identity string, ca *testpki.CA) *http.Client {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: e.ca.Pool()}
	if identity != "" {
		if ca == nil {
			ca = e.ca
		}
		leaf := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: identity, Client: true}))
		cfg.Certificates = []tls.Certificate{leaf.TLS}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get sends GET /AIMWebService/api/Accounts?query as identity and returns
// the status and body.
func (e *env) get(identity, query string) (int, string) {
	e.t.Helper()
	return e.getWith(e.client(identity, nil), "/AIMWebService/api/Accounts?"+query)
}

func (e *env) getWith(c *http.Client, pathAndQuery string) (int, string) {
	e.t.Helper()
	resp, err := c.Get(e.ts.URL + pathAndQuery)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func (e *env) awsRefs() []providers.Ref {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]providers.Ref(nil), e.refs...)
}

// The answer to the example of the README, as a CCP client reads it.
const glAnswer = `{"Address":"","Content":"Gl-S3cret/Value+1","Folder":"Root","LogonDomain":"ABCD","Name":"glaccess_ABCD--RPA-2e-user123","PasswordChangeInProcess":"False","PolicyID":"WinDomain","Safe":"finance","UserName":"RPA.user123","url":"https://gl.example/login"}` + "\n"

func TestRoundTripThroughCyberArkProvider(t *testing.T) {
	e := newEnv(t)
	leaf := testpki.Must(e.ca.Issue(testpki.LeafOptions{CommonName: controlRoom, Client: true}))
	certFile, keyFile, err := leaf.WriteFiles(e.dir, "control-room")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"", "exact"} {
		t.Run("query_format="+format, func(t *testing.T) {
			p, err := cyberark.New(context.Background(), cyberark.Config{URL: e.ts.URL, AppID: "RPA", QueryFormat: format,
				TLS:         cyberark.TLSConfig{ClientCertFile: certFile, ClientKeyFile: keyFile, CAFile: e.caFile},
				MaxAttempts: 1, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			s, err := p.Get(ctx, providers.Ref{Location: "finance", Name: "glaccess_ABCD--RPA-2e-user123", Reason: "bot run 7"})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"password": glPassword, "username": "RPA.user123", "domain": "ABCD", "address": "",
				"url": "https://gl.example/login", "PolicyID": "WinDomain", "Safe": "finance", "Folder": "Root",
				"Name": "glaccess_ABCD--RPA-2e-user123", "PasswordChangeInProcess": "False"}
			if !reflect.DeepEqual(s.Attributes, want) {
				t.Fatalf("attributes through two protocols:\n%v\nwant\n%v", s.Attributes, want)
			}
			refs := e.awsRefs()
			last := refs[len(refs)-1]
			if last.Name != "accounting_glaccess_ABCD--RPA-2e-user123" || last.Location != "" || last.Reason != "secretbroker for control-room: bot run 7" {
				t.Fatalf("the vault behind the broker was asked %+v", last)
			}
			// Auto-login, by format and by mapping.
			s, err = p.Get(ctx, providers.Ref{Location: "RPA-AutoLogin", Name: "autologin_ABCD--user123"})
			if err != nil || s.Attributes["password"] != alPassword || s.Attributes["domain"] != "ABCD" {
				t.Fatalf("auto-login: %v, %v", s, err)
			}
			s, err = p.Get(ctx, providers.Ref{Location: "rpa-autologin", Name: "svc-login"})
			if err != nil || s.Attributes["password"] != svcPassword || s.Attributes["Name"] != "svc-login" {
				t.Fatalf("mapped auto-login: %v, %v", s, err)
			}
			// A CyberArk place: the object in the place's Safe.
			s, err = p.Get(ctx, providers.Ref{Location: "GL", Name: "glaccess_ABCD--bot-2d-7"})
			if err != nil || s.Attributes["username"] != "bot-7" {
				t.Fatalf("CyberArk place: %v, %v", s, err)
			}
			// The client classifies the endpoint's errors.
			_, err = p.Get(ctx, providers.Ref{Location: "finance", Name: "nothing_here"})
			providertest.WantCode(t, err, providers.NotFound)
			_, err = p.Get(ctx, providers.Ref{Location: "unknown", Name: "glaccess"})
			providertest.WantCode(t, err, providers.NotFound)
			e.aws.SetFault(providers.Errorf(providers.Unavailable, errors.New("aws: connection reset"), "the vault is unavailable"))
			_, err = p.Get(ctx, providers.Ref{Location: "finance", Name: "glaccess"})
			e.aws.SetFault(nil)
			providertest.WantCode(t, err, providers.Unavailable)
		})
	}
	trail, err := os.ReadFile(e.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"identity":"control-room","auth_method":"mtls","purpose":"bot run 7","operation":"credential","locker":"finance","credential":"glaccess_ABCD\\RPA.user123","tried":["OBJECT accounting_glaccess_ABCD--RPA-2e-user123 @aws-prod"],"served":"accounting_glaccess_ABCD--RPA-2e-user123","provider":"aws-prod","place":0,"scope":"OBJECT","decision":"allowed","rule":"clients[0] control room","code":"OK"`,
		`"operation":"autologin","username":"ABCD\\user123","tried":["AUTO_LOGIN autologin_ABCD--user123 @store"]`} {
		if !strings.Contains(string(trail), want) {
			t.Errorf("audit trail lacks %s:\n%s", want, trail)
		}
	}
}

func TestPlainHTTPSClients(t *testing.T) {
	e := newEnv(t)
	const q = "AppID=RPA&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123"
	resp, err := e.client(controlRoom, nil).Get(e.ts.URL + "/AIMWebService/api/Accounts?" + q)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != glAnswer {
		t.Fatalf("status %d body\n%s\nwant\n%s", resp.StatusCode, body, glAnswer)
	}
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/json; charset=utf-8" || cc != "no-store" {
		t.Fatalf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	// A certificate from another CA, and none at all: the handshake fails
	// and no request reaches the handler.
	before := e.requests.Load()
	other := testpki.Must(testpki.NewCA("untrusted CA"))
	for name, c := range map[string]*http.Client{"untrusted": e.client(controlRoom, other), "none": e.client("", nil)} {
		resp, err := c.Get(e.ts.URL + "/AIMWebService/api/Accounts?" + q)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s certificate: got HTTP %d, want a failed TLS handshake", name, resp.StatusCode)
		}
	}
	if n := e.requests.Load() - before; n != 0 {
		t.Fatalf("%d requests without a trusted certificate reached the handler", n)
	}
}

func TestParameterNamesAnyCase(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{
		"appid=RPA&safe=finance&object=glaccess_ABCD--RPA-2e-user123",
		"AppId=RPA&SAFE=finance&Object=glaccess_ABCD--RPA-2e-user123&FOLDER=Root",
		"APPID=RPA&Safe=FINANCE&oBjEcT=glaccess_ABCD--RPA-2e-user123",
		"AppID=RPA&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123&QueryFormat=exact&FailRequestOnPasswordChange=False&ConnectionTimeout=30&Reason=nightly%20run",
	} {
		status, body := e.get(controlRoom, q)
		want := glAnswer
		if strings.Contains(q, "FINANCE") {
			want = strings.Replace(want, `"Safe":"finance"`, `"Safe":"FINANCE"`, 1)
		}
		if status != 200 || body != want {
			t.Errorf("%s: %d\n%s\nwant\n%s", q, status, body, want)
		}
	}
	// The endpoint's path, too, is matched without regard to case.
	if status, body := e.getWith(e.client(controlRoom, nil), "/aimwebservice/API/accounts/?AppID=RPA&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123"); status != 200 || body != glAnswer {
		t.Errorf("lower-case path: %d %s", status, body)
	}
}

func TestQueryEqualsParameters(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{
		"AppID=RPA&Query=Safe=finance;Folder=Root;Object=glaccess_ABCD--RPA-2e-user123",
		"AppID=RPA&Query=Safe%3Dfinance%3BFolder%3DRoot%3BObject%3Dglaccess_ABCD--RPA-2e-user123&QueryFormat=Exact",
		"AppID=RPA&Query=object=glaccess_ABCD--RPA-2e-user123;safe=finance",
		// Query replaces the other search parameters.
		"AppID=RPA&Safe=elsewhere&Object=other&Query=Safe=finance;Object=glaccess_ABCD--RPA-2e-user123",
		// Further properties are criteria the object must meet.
		"AppID=RPA&Query=Safe=finance;Object=glaccess_ABCD--RPA-2e-user123;UserName=rpa.USER123;PolicyID=WinDomain",
		"AppID=RPA&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123&UserName=RPA.user123",
	} {
		if status, body := e.get(controlRoom, q); status != 200 || body != glAnswer {
			t.Errorf("%s: %d\n%s\nwant\n%s", q, status, body, glAnswer)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	e := newEnv(t)
	const obj = "&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123"
	cases := []struct {
		name, identity, query string
		status                int
		body                  string
	}{
		{"no AppID", controlRoom, "Safe=finance&Object=glaccess", 400,
			`{"ErrorCode":"AIMWS031E","ErrorMsg":"Invalid request. The AppID parameter is required."}`},
		{"empty AppID", controlRoom, "AppID=" + obj, 400,
			`{"ErrorCode":"AIMWS031E","ErrorMsg":"Invalid request. The AppID parameter is required."}`},
		{"AppID with @", controlRoom, "AppID=RPA%40uipath-orch" + obj, 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: AppID may not contain '@'"}`},
		{"no Object", controlRoom, "AppID=RPA&Safe=finance&UserName=RPA.user123", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: secretbroker needs the Object (a search by UserName, Address or other properties alone is not supported)"}`},
		{"no Safe", controlRoom, "AppID=RPA&Object=glaccess", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: secretbroker needs the Safe of the Object"}`},
		{"Regexp", controlRoom, "AppID=RPA&Query=Safe=finance;Object=gl.*&QueryFormat=Regexp", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: QueryFormat Regexp is not supported: secretbroker answers exact object names only (use QueryFormat Exact)"}`},
		{"bad QueryFormat", controlRoom, "AppID=RPA&QueryFormat=Fuzzy" + obj, 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: QueryFormat [Fuzzy] is not Exact or Regexp"}`},
		{"parameter twice", controlRoom, "AppID=RPA&appid=Other" + obj, 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: parameter appid is given more than once"}`},
		{"malformed Query", controlRoom, "AppID=RPA&Query=Safe=finance;glaccess", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: Query part [glaccess] is not Property=Value"}`},
		{"password as criterion", controlRoom, "AppID=RPA&Query=Safe=finance;Object=glaccess;Content=guess", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: the password (Content) cannot be a search criterion"}`},
		{"bad encoding", controlRoom, "AppID=RPA&Safe=finance&Object=glaccess.v2", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: Object [glaccess.v2] is not a CyberArk object name in secretbroker's encoding (naming: invalid name: cannot decode \"glaccess.v2\" under cyberark (default raw set A-Z a-z 0-9 _ + =): bad token \".\" at offset 8: '.' does not pass raw in cyberark (default raw set A-Z a-z 0-9 _ + =); Encode writes it as \"-2e-\")"}`},
		{"bad ConnectionTimeout", controlRoom, "AppID=RPA&ConnectionTimeout=soon" + obj, 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: ConnectionTimeout [soon] must be a number of seconds from 1 to 600"}`},
		{"bad FailRequestOnPasswordChange", controlRoom, "AppID=RPA&FailRequestOnPasswordChange=maybe" + obj, 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: FailRequestOnPasswordChange [maybe] must be true or false"}`},
		{"bad percent-encoding", controlRoom, "AppID=RPA&Object=%zz&Safe=finance", 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: parameter [Object] is not valid percent-encoding"}`},
		{"unknown Safe", controlRoom, "AppID=RPA&Safe=payroll&Object=glaccess", 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"Password object matching query [Safe=payroll;Folder=Root;Object=glaccess] was not found. Check that the object exists and that this application may use it (AppID, client certificate and policy)."}`},
		{"locker not granted", limitedBot, "AppID=RPA&Safe=GL&Object=glaccess", 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"Password object matching query [Safe=GL;Folder=Root;Object=glaccess] was not found. Check that the object exists and that this application may use it (AppID, client certificate and policy)."}`},
		{"bad name, locker not granted", limitedBot, "AppID=RPA&Safe=GL&Object=" + strings.Repeat("o", 300), 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"Password object matching query [Safe=GL;Folder=Root;Object=oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo…] was not found. Check that the object exists and that this application may use it (AppID, client certificate and policy)."}`},
		{"no rule at all", nobody, "AppID=RPA&Safe=finance&Object=glaccess", 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"Password object matching query [Safe=finance;Folder=Root;Object=glaccess] was not found. Check that the object exists and that this application may use it (AppID, client certificate and policy)."}`},
		{"object not granted", limitedBot, "AppID=RPA" + obj, 403,
			`{"ErrorCode":"APPAP008E","ErrorMsg":"get object \"glaccess_ABCD\\\\RPA.user123\" in locker \"finance\": credential is not granted to \"limited-bot\" for user \"glaccess_ABCD\\\\RPA.user123\""}`},
		{"auto-login not granted", limitedBot, "AppID=RPA&Safe=RPA-AutoLogin&Object=autologin_ABCD--user123", 403,
			`{"ErrorCode":"APPAP008E","ErrorMsg":"get auto-login credential for user \"ABCD\\\\user123\": autologin is not granted to \"limited-bot\" for user \"ABCD\\\\user123\""}`},
		{"not found", controlRoom, "AppID=RPA&Safe=finance&Object=glaccess_ABCD--nobody", 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"get object \"glaccess_ABCD\\\\nobody\" in locker \"finance\": no secret with that name (tried OBJECT \"accounting_glaccess_ABCD--nobody\" in provider \"aws-prod\" (aws))"}`},
		{"criterion not met", controlRoom, "AppID=RPA" + obj + "&Address=db.example", 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"Password object matching query [Safe=finance;Folder=Root;Object=glaccess_ABCD--RPA-2e-user123] was not found: the object's Address property does not match the query"}`},
		{"auto-login name of nobody", controlRoom, "AppID=RPA&Safe=RPA-AutoLogin&Object=autologin_ABCD--svc", 404,
			`{"ErrorCode":"APPAP004E","ErrorMsg":"get auto-login object \"autologin_ABCD\\\\svc\": no single Control Room user has this auto-login name (format \"autologin_{username}\" or a name of the mapping)"}`},
		{"password being changed", controlRoom, "AppID=RPA&Safe=finance&Object=rotating&FailRequestOnPasswordChange=true", 500,
			`{"ErrorCode":"APPAP282E","ErrorMsg":"Password [rotating] is currently being changed."}`},
		{"rotating served", controlRoom, "AppID=RPA&Safe=finance&Object=rotating", 200,
			`{"Address":"","Content":"Rot-S3cret-Value","Folder":"Root","Name":"rotating","PasswordChangeInProcess":"True","Safe":"finance","UserName":"rot"}`},
		{"object too long for the broker", controlRoom, "AppID=RPA&Safe=finance&Object=" + strings.Repeat("o", 300), 400,
			`{"ErrorCode":"AIMWS030E","ErrorMsg":"Invalid query format: get object \"oooooooooooooooooooooooooooooooo\"… (300 characters in all) in locker \"finance\": object is 300 bytes long; at most 256 are allowed"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.get(c.identity, c.query)
			if status != c.status || body != c.body+"\n" {
				t.Fatalf("HTTP %d %s\nwant HTTP %d %s", status, body, c.status, c.body)
			}
		})
	}
	if n := len(e.awsRefs()); n != 4 { // not found, criterion, and the two rotating reads
		t.Fatalf("the vault was read %d times, want 4: refusals must not reach it", n)
	}
}

func TestVaultAndLimitErrors(t *testing.T) {
	e := newEnv(t)
	const q = "AppID=RPA&Safe=finance&Object=glaccess"
	e.aws.SetFault(providers.Errorf(providers.Unavailable, errors.New("dial tcp 192.0.2.1:443: connection refused"), "the vault is unavailable"))
	status, body := e.get(controlRoom, q)
	if want := `{"ErrorCode":"APPAP007E","ErrorMsg":"get object \"glaccess\" in locker \"finance\": the vault is unavailable (tried OBJECT \"accounting_glaccess\" in provider \"aws-prod\" (aws))"}` + "\n"; status != 503 || body != want {
		t.Fatalf("vault down: HTTP %d %s\nwant %s", status, body, want)
	}
	e.aws.SetFault(providers.Errorf(providers.PermissionDenied, errors.New("AccessDeniedException: arn:aws:iam::1:role/x"), "the vault refused the daemon's identity"))
	status, body = e.get(controlRoom, q)
	if want := `{"ErrorCode":"SECBR500E","ErrorMsg":"get object \"glaccess\" in locker \"finance\": the vault refused the daemon's identity (tried OBJECT \"accounting_glaccess\" in provider \"aws-prod\" (aws))"}` + "\n"; status != 500 || body != want {
		t.Fatalf("vault refused the daemon: HTTP %d %s\nwant %s", status, body, want)
	}
	e.aws.SetFault(nil)
	if !strings.Contains(e.logs.String(), "connection refused") {
		t.Errorf("the inner error of a failed request is not logged:\n%s", e.logs.String())
	}

	if status, _ := e.get(throttled, q); status != 200 {
		t.Fatalf("first request of the throttled user: HTTP %d", status)
	}
	resp, err := e.client(throttled, nil).Get(e.ts.URL + "/AIMWebService/api/Accounts?" + q)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"ErrorCode":"SECBR429E","ErrorMsg":"get object \"glaccess\" in locker \"finance\": rate limit exceeded for \"throttled-user\"; retry after 16m40s"}` + "\n"; resp.StatusCode != 429 || string(b) != want || resp.Header.Get("Retry-After") != "1000" {
		t.Fatalf("rate limited: HTTP %d Retry-After %q %s\nwant %s", resp.StatusCode, resp.Header.Get("Retry-After"), b, want)
	}
}

func TestAppIDAliases(t *testing.T) {
	e := newEnv(t)
	if status, body := e.get(uipath, "AppID=UiPath&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123"); status != 200 || body != glAnswer {
		t.Fatalf("granted through ccp:UiPath@uipath-orch: HTTP %d %s", status, body)
	}
	status, body := e.get(uipath, "AppID=Other&Safe=finance&Object=glaccess_ABCD--RPA-2e-user123")
	if want := `{"ErrorCode":"APPAP004E","ErrorMsg":"Password object matching query [Safe=finance;Folder=Root;Object=glaccess_ABCD--RPA-2e-user123] was not found. Check that the object exists and that this application may use it (AppID, client certificate and policy)."}` + "\n"; status != 404 || body != want {
		t.Fatalf("another AppID: HTTP %d %s", status, body)
	}
}

func TestHandlerWithoutVerifiedCertificate(t *testing.T) {
	var bp atomic.Pointer[broker.Broker]
	h, err := ccp.New(ccp.Options{Broker: &bp, Safes: map[string]string{"finance": "finance"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		target string
		status int
		body   string
	}{
		{"/AIMWebService/api/Accounts?AppID=RPA&Safe=finance&Object=x", 403,
			`{"ErrorCode":"APPAP306E","ErrorMsg":"Authentication error for App ID [RPA]: the request carries no verified client certificate (this endpoint identifies applications by client certificate)"}` + "\n"},
		{"/AIMWebService/api/Other?AppID=RPA", 404, "404 page not found\n"},
		{"/Elsewhere/api/Accounts?AppID=RPA", 404, "404 page not found\n"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, c.target, nil))
		if w.Code != c.status || w.Body.String() != c.body {
			t.Errorf("%s: HTTP %d %q, want %d %q", c.target, w.Code, w.Body.String(), c.status, c.body)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/AIMWebService/api/Accounts?AppID=RPA", nil))
	if w.Code != 405 || w.Header().Get("Allow") != "GET" {
		t.Errorf("POST: HTTP %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	// A verified certificate but no broker yet.
	r := httptest.NewRequest(http.MethodGet, "/AIMWebService/api/Accounts?AppID=RPA&Safe=finance&Object=x", nil)
	ca := testpki.Must(testpki.NewCA("ca"))
	leaf := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "cr", Client: true}))
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.Cert}, VerifiedChains: [][]*x509.Certificate{{leaf.Cert, ca.Cert}}}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if want := `{"ErrorCode":"APPAP007E","ErrorMsg":"Connection to the Vault has failed: the broker is not ready"}` + "\n"; w.Code != 503 || w.Body.String() != want {
		t.Errorf("no broker: HTTP %d %s", w.Code, w.Body.String())
	}
}

func TestNewValidates(t *testing.T) {
	var bp atomic.Pointer[broker.Broker]
	cases := map[string]ccp.Options{
		"no broker":                {Safes: map[string]string{"a": "a"}},
		"nothing served":           {Broker: &bp},
		"web service with a path":  {Broker: &bp, WebService: "AIM/WebService", Safes: map[string]string{"a": "a"}},
		"bad Safe name":            {Broker: &bp, Safes: map[string]string{"fin*": "a"}},
		"Safe without locker":      {Broker: &bp, Safes: map[string]string{"fin": ""}},
		"Safes equal but for case": {Broker: &bp, Safes: map[string]string{"Fin": "a", "fin": "b"}},
		"auto-login Safe mapped":   {Broker: &bp, Safes: map[string]string{"RPA-AutoLogin": "a"}, AutoLoginSafe: "rpa-autologin"},
	}
	for name, opts := range cases {
		if _, err := ccp.New(opts); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := ccp.New(ccp.Options{Broker: &bp, AutoLoginSafe: "RPA-AutoLogin", WebService: "AIMWebServiceCert"}); err != nil {
		t.Errorf("an auto-login Safe alone: %v", err)
	}
}
