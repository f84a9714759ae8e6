package cyberark_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/cyberark/cyberarktest"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

const safe = "finance"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newProvider(t *testing.T, cfg cyberark.Config) *cyberark.Provider {
	t.Helper()
	p, err := cyberark.New(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ref(name string) providers.Ref {
	return providers.Ref{Location: safe, Name: name, Reason: "test"}
}

// wantErr checks err's code and, when reasonPart is not empty, that its
// caller-safe reason contains reasonPart.
func wantErr(t *testing.T, p providers.Provider, err error, code providers.Code, reasonPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	if got := providers.CodeOf(err); got != code {
		t.Fatalf("error %q classified %v, want %v", err, got, code)
	}
	if reasonPart != "" && !strings.Contains(providers.ReasonOf(err), reasonPart) {
		t.Fatalf("reason %q does not contain %q (error %q)", providers.ReasonOf(err), reasonPart, err)
	}
}

func TestAttributesMapping(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "glaccess_ABCD--user123", map[string]string{
		"Content":           "s3cret",
		"UserName":          "user123",
		"LogonDomain":       "ABCD",
		"Address":           "abcd.example.com",
		"PolicyID":          "WinDomain",
		"DeviceType":        "Operating System",
		"LastSuccessChange": "1700000000",
		"password":          "custom property that must not win",
	})
	p := newProvider(t, baseConfig(srv))
	got, err := p.Get(ctxT(t), ref("glaccess_ABCD--user123"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := map[string]string{
		"password":                "s3cret",
		"username":                "user123",
		"domain":                  "ABCD",
		"address":                 "abcd.example.com",
		"PolicyID":                "WinDomain",
		"DeviceType":              "Operating System",
		"Name":                    "glaccess_ABCD--user123",
		"Folder":                  "Root",
		"Safe":                    safe,
		"PasswordChangeInProcess": "False",
	}
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("attribute %q = %q, want %q", k, got.Attributes[k], v)
		}
	}
	for _, k := range []string{"Content", "UserName", "LogonDomain", "Address"} {
		if _, ok := got.Attributes[k]; ok {
			t.Errorf("CCP property %q kept under its own name as well", k)
		}
	}
	if got.Version != "" {
		t.Errorf("Version = %q, want empty", got.Version)
	}
	if want := time.Unix(1700000000, 0).UTC(); !got.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want)
	}
}

func TestRequestParameters(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	cfg := baseConfig(srv)
	cfg.ConnectionTimeout = 5
	p := newProvider(t, cfg)
	r := ref("cred")
	r.Reason = "bot runner ABCD\\user123 (job 42) for finance/glaccess"
	if _, err := p.Get(ctxT(t), r); err != nil {
		t.Fatalf("Get: %v", err)
	}
	q := srv.LastQuery()
	for k, v := range map[string]string{
		"AppID": srv.AppID(), "Safe": safe, "Folder": "Root", "Object": "cred",
		"Reason": r.Reason, "ConnectionTimeout": "5",
	} {
		if q.Get(k) != v {
			t.Errorf("server saw %s=%q, want %q", k, q.Get(k), v)
		}
	}
	if q.Has("Query") || q.Has("FailRequestOnPasswordChange") {
		t.Errorf("unexpected parameters: %v", q)
	}
	if reasons := srv.Reasons(); len(reasons) != 1 || reasons[0] != r.Reason {
		t.Errorf("server recorded reasons %q", reasons)
	}

	// No Reason: the parameter is left out.
	r.Reason = ""
	if _, err := p.Get(ctxT(t), r); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if srv.LastQuery().Has("Reason") {
		t.Errorf("empty Reason was sent")
	}
}

func TestNameEscaping(t *testing.T) {
	srv := startServer(t)
	p := newProvider(t, baseConfig(srv))
	names := []string{
		`autologin_ABCD\user123`,
		"autologin_user123@rpa.abcd.com",
		"hr_portal_ACME\\josé",
		"emoji_🔑_密码",
		"plus+equals=amp&pct%semi;hash#q?sp ace/slash",
	}
	for i, name := range names {
		value := fmt.Sprintf("v%d", i)
		srv.Seed(safe, name, map[string]string{"Content": value})
		got, err := p.Get(ctxT(t), ref(name))
		if err != nil {
			t.Errorf("Get %q: %v", name, err)
			continue
		}
		if got.Attributes["password"] != value {
			t.Errorf("Get %q: wrong password", name)
		}
		if obj := srv.LastQuery().Get("Object"); obj != name {
			t.Errorf("server saw Object %q, want %q", obj, name)
		}
	}
	// A Safe with awkward characters reaches the server intact too.
	srv.Seed("RPA Safe@ä", "x", map[string]string{"Content": "y"})
	if _, err := p.Get(ctxT(t), providers.Ref{Location: "RPA Safe@ä", Name: "x"}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := srv.LastQuery().Get("Safe"); got != "RPA Safe@ä" {
		t.Errorf("server saw Safe %q", got)
	}
}

func TestBadRefs(t *testing.T) {
	srv := startServer(t)
	p := newProvider(t, baseConfig(srv))
	_, err := p.Get(ctxT(t), providers.Ref{Name: "cred"})
	wantErr(t, p, err, providers.InvalidArgument, "Safe")
	_, err = p.Get(ctxT(t), providers.Ref{Location: safe})
	wantErr(t, p, err, providers.InvalidArgument, "")
	_, err = p.Get(ctxT(t), providers.Ref{Location: safe, Name: "cred", Version: "2"})
	wantErr(t, p, err, providers.InvalidArgument, "versions")
	if n := srv.Requests(); n != 0 {
		t.Errorf("invalid refs made %d requests", n)
	}
}

func TestFolder(t *testing.T) {
	srv := startServer(t)
	srv.SeedFolder(safe, `Root\RPA`, "cred", map[string]string{"Content": "in-folder"})
	p := newProvider(t, baseConfig(srv))
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.NotFound, "APPAP004E")

	cfg := baseConfig(srv)
	cfg.Folder = `Root\RPA`
	p = newProvider(t, cfg)
	got, err := p.Get(ctxT(t), ref("cred"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Attributes["password"] != "in-folder" {
		t.Errorf("wrong password")
	}
}

func TestQueryFormat(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred_a", map[string]string{"Content": "a"})
	srv.Seed(safe, "cred_b", map[string]string{"Content": "b"})

	cfg := baseConfig(srv)
	cfg.QueryFormat = "exact"
	p := newProvider(t, cfg)
	got, err := p.Get(ctxT(t), ref("CRED_A")) // CyberArk names ignore case
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Attributes["password"] != "a" {
		t.Errorf("wrong password")
	}
	q := srv.LastQuery()
	if q.Get("Query") != "Safe="+safe+";Folder=Root;Object=CRED_A" || q.Get("QueryFormat") != "Exact" || q.Has("Object") {
		t.Errorf("server saw %v", q)
	}
	_, err = p.Get(ctxT(t), ref("a;b"))
	wantErr(t, p, err, providers.InvalidArgument, ";")

	cfg.QueryFormat = "regexp"
	p = newProvider(t, cfg)
	_, err = p.Get(ctxT(t), ref("cred_.*"))
	wantErr(t, p, err, providers.FailedPrecondition, "more than one object matched; make the query unique")
	if srv.LastQuery().Get("QueryFormat") != "Regexp" {
		t.Errorf("server saw %v", srv.LastQuery())
	}
	got, err = p.Get(ctxT(t), ref("cred_[b]"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Attributes["password"] != "b" {
		t.Errorf("wrong password")
	}
}

func TestPasswordChangeInProcess(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "rotating", map[string]string{"Content": "new-password", "UserName": "u"})
	p := newProvider(t, baseConfig(srv)) // 3 attempts

	// Changing for two requests: the third one succeeds.
	srv.SetPasswordChangeInProcess(safe, "rotating", 2)
	before := srv.Requests()
	got, err := p.Get(ctxT(t), ref("rotating"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Attributes["password"] != "new-password" {
		t.Errorf("wrong password")
	}
	if n := srv.Requests() - before; n != 3 {
		t.Errorf("made %d requests, want 3", n)
	}

	// Changing for longer than the attempts: Unavailable, and the value CCP
	// sent along is nowhere in the error.
	srv.SetPasswordChangeInProcess(safe, "rotating", 10)
	before = srv.Requests()
	_, err = p.Get(ctxT(t), ref("rotating"))
	wantErr(t, p, err, providers.Unavailable,
		"CyberArk is changing this password (PasswordChangeInProcess); try again shortly")
	if n := srv.Requests() - before; n != 3 {
		t.Errorf("made %d requests, want 3", n)
	}
	if strings.Contains(fmt.Sprintf("%+v", err), "new-password") {
		t.Errorf("error carries the password: %v", err)
	}

	// APPAP282E (CCP's error form) is retried the same way.
	srv.SetPasswordChangeInProcess(safe, "rotating", 0)
	srv.FailNext(safe, "rotating", http.StatusInternalServerError, "APPAP282E",
		"Password [rotating] is currently being changed by the CPM.", 2)
	if _, err := p.Get(ctxT(t), ref("rotating")); err != nil {
		t.Fatalf("Get after two APPAP282E: %v", err)
	}
	srv.FailNext(safe, "rotating", http.StatusInternalServerError, "APPAP282E", "being changed", -1)
	_, err = p.Get(ctxT(t), ref("rotating"))
	wantErr(t, p, err, providers.Unavailable, "PasswordChangeInProcess")
	var ae *cyberark.APIError
	if !errors.As(err, &ae) || ae.Code != "APPAP282E" || ae.Status != 500 {
		t.Errorf("error %v does not wrap the APIError", err)
	}
}

func TestPasswordChangeRespectsDeadline(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "rotating", map[string]string{"Content": "p"})
	srv.SetPasswordChangeInProcess(safe, "rotating", 100)
	cfg := baseConfig(srv)
	cfg.MaxAttempts, cfg.Backoff = 10, time.Hour
	p := newProvider(t, cfg)

	// The next wait would pass the caller's deadline: give up at once with
	// the real reason.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.Get(ctx, ref("rotating"))
	wantErr(t, p, err, providers.Unavailable, "PasswordChangeInProcess")

	// Without a deadline, cancellation ends the wait.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Get(ctx, ref("rotating"))
		done <- err
	}()
	for srv.Requests() < 2 { // the first request has been answered
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		wantErr(t, p, err, providers.Canceled, "")
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return after cancellation")
	}
}

func TestErrorCodes(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "Tr0ub4dor&3"})
	cfg := baseConfig(srv)
	cfg.MaxAttempts = 1
	p := newProvider(t, cfg)
	cases := []struct {
		status int
		code   string
		want   providers.Code
		reason string
	}{
		{404, "APPAP004E", providers.NotFound, "(CyberArk APPAP004E)"},
		{404, "APPAP249E", providers.NotFound, ""},
		{404, "APPAP324E", providers.NotFound, ""},
		{404, "APPAP999E", providers.NotFound, ""}, // CCP's own 404, unknown code
		{404, "", providers.FailedPrecondition, "check url and web_service"},
		{403, "APPAP306E", providers.PermissionDenied, "refused the application"},
		{403, "APPAP008E", providers.PermissionDenied, ""},
		{403, "APPAP087E", providers.PermissionDenied, ""},
		{403, "APPAP132E", providers.PermissionDenied, ""},
		{403, "APPAP133E", providers.PermissionDenied, ""},
		{403, "APPAP777E", providers.PermissionDenied, ""}, // unknown 403
		{403, "", providers.PermissionDenied, ""},
		{401, "", providers.PermissionDenied, ""},
		{400, "APPAP227E", providers.FailedPrecondition, "more than one object matched; make the query unique"},
		{400, "APPAP228E", providers.FailedPrecondition, "more than one object matched"},
		{400, "APPAP229E", providers.FailedPrecondition, "more than one object matched"},
		{400, "APPAP230E", providers.FailedPrecondition, "more than one object matched"},
		{400, "APPAP251E", providers.FailedPrecondition, "more than one object matched"},
		{400, "APPAP007E", providers.Unavailable, "cannot reach the Vault"},
		{500, "APPBC007E", providers.Unavailable, "cannot reach the Vault"},
		{500, "APPAP096W", providers.Unavailable, ""},
		{500, "APPAP289E", providers.Unavailable, ""},
		{500, "APPAP291E", providers.Unavailable, ""},
		{500, "APPAP292E", providers.Unavailable, ""},
		{500, "APPAP297E", providers.Unavailable, ""},
		{500, "APPAP282E", providers.Unavailable, "PasswordChangeInProcess"},
		{500, "APPAP286E", providers.Unavailable, "PasswordChangeInProcess"},
		{400, "AIMWS030E", providers.InvalidArgument, ""},
		{400, "AIMWS031E", providers.InvalidArgument, ""},
		{400, "APPAP081E", providers.InvalidArgument, ""},
		{400, "CASVL010E", providers.InvalidArgument, ""},
		{400, "", providers.InvalidArgument, ""},
		{500, "", providers.Unavailable, "unavailable"},
		{502, "", providers.Unavailable, ""},
		{503, "XYZ123E", providers.Unavailable, ""},
		{429, "", providers.ResourceExhausted, "throttling"},
		{302, "", providers.FailedPrecondition, "redirect"},
		{418, "", providers.Unknown, ""},
	}
	const msg = "Password object matching query [Safe=finance;Folder=Root;Object=cred] failed\x07 (Diagnostic Info: 5)"
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", c.status, c.code), func(t *testing.T) {
			srv.FailNext(safe, "cred", c.status, c.code, msg, 1)
			_, err := p.Get(ctxT(t), ref("cred"))
			wantErr(t, p, err, c.want, c.reason)
			reason := providers.ReasonOf(err)
			if strings.Contains(reason, "Diagnostic") || strings.Contains(reason, "finance") {
				t.Errorf("reason carries CCP's message: %q", reason)
			}
			var ae *cyberark.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v does not wrap an *APIError", err)
			}
			if ae.Status != c.status || ae.Code != c.code {
				t.Errorf("APIError = %+v", ae)
			}
			if c.code != "" && !strings.Contains(ae.Error(), "Diagnostic Info") {
				t.Errorf("APIError.Error() lost CCP's message: %q", ae.Error())
			}
			if strings.ContainsRune(ae.Error(), '\x07') {
				t.Errorf("APIError.Error() keeps control characters: %q", ae.Error())
			}
		})
	}
}

func TestUnknownAppIDDenied(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	cfg := baseConfig(srv)
	cfg.AppID = "someone-else"
	p := newProvider(t, cfg)
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.PermissionDenied, "APPAP306E")
}

func TestVaultDown(t *testing.T) {
	srv := startServer(t)
	srv.SetFault(cyberarktest.VaultDown)
	p := newProvider(t, baseConfig(srv))
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.Unavailable, "cannot reach the Vault")
}

func TestWrongWebService(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	cfg := baseConfig(srv)
	cfg.WebService = "AIMWebServiceCert"
	p := newProvider(t, cfg)
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.FailedPrecondition, "web_service")
}

func TestMalformedSuccessDoesNotLeak(t *testing.T) {
	srv := startServer(t)
	p := newProvider(t, baseConfig(srv))
	bodies := map[string]string{
		"bad escape":     `{"Content":"Tr0ub4dor\q&3","UserName":"u"}`,
		"truncated":      `{"Content":"Tr0ub4dor&3`,
		"not an object":  `["Tr0ub4dor&3"]`,
		"no Content":     `{"UserName":"Tr0ub4dor&3"}`,
		"Content number": `{"Content":31415926,"UserName":"Tr0ub4dor&3"}`,
		"html":           `<html>Tr0ub4dor&3</html>`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			srv.RespondNext(safe, "cred", http.StatusOK, "application/json", body, 1)
			_, err := p.Get(ctxT(t), ref("cred"))
			wantErr(t, p, err, providers.Internal, "")
			for _, s := range []string{"Tr0ub4dor", "31415926", "invalid character", "'q'"} {
				if strings.Contains(fmt.Sprintf("%+v", err), s) {
					t.Errorf("error carries %q from the answer: %v", s, err)
				}
			}
		})
	}

	// A 200 that carries CCP's error shape is classified by its code.
	srv.RespondNext(safe, "cred", http.StatusOK, "application/json", `{"ErrorCode":"APPAP004E","ErrorMsg":"not found"}`, 1)
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.NotFound, "APPAP004E")
}

func TestTimeout(t *testing.T) {
	srv := startServer(t)
	srv.SetFault(cyberarktest.Hung)
	cfg := baseConfig(srv)
	cfg.Timeout = 50 * time.Millisecond
	p := newProvider(t, cfg)
	_, err := p.Get(ctxT(t), ref("cred")) // the caller's deadline is far away
	wantErr(t, p, err, providers.Unavailable, "configured timeout")
}

func TestHungHonoursCallerDeadline(t *testing.T) {
	srv := startServer(t)
	srv.SetFault(cyberarktest.Hung)
	p := newProvider(t, baseConfig(srv)) // request_timeout 10s
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Get(ctx, ref("cred"))
	wantErr(t, p, err, providers.DeadlineExceeded, "")
}

func TestConnectionRefused(t *testing.T) {
	srv := startServer(t)
	cfg := baseConfig(srv)
	cfg.URL = "https://" + closedAddr()
	p := newProvider(t, cfg)
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.Unavailable, "unreachable")
	if strings.Contains(providers.ReasonOf(err), "127.0.0.1") {
		t.Errorf("reason names the address: %q", providers.ReasonOf(err))
	}
}

func TestMutualTLS(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	tlsReason := "TLS handshake failed"

	cases := map[string]func(*cyberark.Config){
		"no client certificate": func(c *cyberark.Config) {
			c.TLS.ClientCertFile, c.TLS.ClientKeyFile = "", ""
		},
		"client certificate from another CA": func(c *cyberark.Config) {
			c.TLS.ClientCertFile, c.TLS.ClientKeyFile = srv.UntrustedClientCertFile(), srv.UntrustedClientKeyFile()
		},
		"server CA not trusted": func(c *cyberark.Config) {
			c.TLS.CAFile = ""
		},
		"server name not in certificate": func(c *cyberark.Config) {
			c.TLS.ServerName = "ccp.example.com"
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(srv)
			mod(&cfg)
			p := newProvider(t, cfg)
			_, err := p.Get(ctxT(t), ref("cred"))
			t.Logf("error: %v", err)
			wantErr(t, p, err, providers.Unavailable, tlsReason)
			if !providers.IsTLSError(err) {
				t.Errorf("the TLS error is not in the chain: %v", err)
			}
			if !strings.Contains(providers.ReasonOf(err), "ca_file") {
				t.Errorf("reason %q gives no hint", providers.ReasonOf(err))
			}
		})
	}

	t.Run("server name override", func(t *testing.T) {
		cfg := baseConfig(srv)
		cfg.TLS.ServerName = "localhost" // listed in the certificate; URL says 127.0.0.1
		p := newProvider(t, cfg)
		if _, err := p.Get(ctxT(t), ref("cred")); err != nil {
			t.Fatalf("Get: %v", err)
		}
	})
}

func TestInsecureSkipVerify(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	var logs bytes.Buffer
	cfg := baseConfig(srv)
	cfg.TLS.CAFile = ""
	cfg.TLS.InsecureSkipVerifyThisIsUnsafe = true
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	p := newProvider(t, cfg)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "insecure_skip_verify_this_is_unsafe") {
		t.Errorf("no warning logged; logs: %s", logs.String())
	}
	if _, err := p.Get(ctxT(t), ref("cred")); err != nil {
		t.Fatalf("Get with verification off: %v", err)
	}

	// Without the flag, nothing is logged.
	logs.Reset()
	cfg = baseConfig(srv)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	newProvider(t, cfg)
	if logs.Len() != 0 {
		t.Errorf("unexpected log: %s", logs.String())
	}
}

func TestClose(t *testing.T) {
	srv := startServer(t)
	p := newProvider(t, baseConfig(srv))
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.FailedPrecondition, "closed")
}

func TestConfigValidation(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name  string
		mod   func(*cyberark.Config)
		field string
	}{
		{"url missing", func(c *cyberark.Config) { c.URL = "" }, "url"},
		{"url http", func(c *cyberark.Config) { c.URL = "http://ccp.example.com" }, "url"},
		{"url no host", func(c *cyberark.Config) { c.URL = "https:///path" }, "url"},
		{"url user info", func(c *cyberark.Config) { c.URL = "https://u:p@ccp.example.com" }, "url"},
		{"url query", func(c *cyberark.Config) { c.URL = "https://ccp.example.com/?x=1" }, "url"},
		{"url unparsable", func(c *cyberark.Config) { c.URL = "https://[::1" }, "url"},
		{"web_service path", func(c *cyberark.Config) { c.WebService = "a/b" }, "web_service"},
		{"app_id missing", func(c *cyberark.Config) { c.AppID = " " }, "app_id"},
		{"query_format unknown", func(c *cyberark.Config) { c.QueryFormat = "fuzzy" }, "query_format"},
		{"folder with ; in query mode", func(c *cyberark.Config) { c.QueryFormat = "exact"; c.Folder = "a;b" }, "folder"},
		{"connection_timeout negative", func(c *cyberark.Config) { c.ConnectionTimeout = -1 }, "connection_timeout"},
		{"connection_timeout too long", func(c *cyberark.Config) { c.ConnectionTimeout = 10 }, "connection_timeout"}, // timeout is 10s
		{"timeout negative", func(c *cyberark.Config) { c.Timeout = -time.Second }, "timeout"},
		{"attempts negative", func(c *cyberark.Config) { c.MaxAttempts = -1 }, "max_attempts"},
		{"attempts too many", func(c *cyberark.Config) { c.MaxAttempts = 1000 }, "max_attempts"},
		{"backoff negative", func(c *cyberark.Config) { c.Backoff = -time.Second }, "backoff"},
		{"writable", func(c *cyberark.Config) { c.Writable = true }, "writable"},
		{"cert without key", func(c *cyberark.Config) { c.TLS.ClientKeyFile = "" }, "tls.client_key_file"},
		{"key without cert", func(c *cyberark.Config) { c.TLS.ClientCertFile = "" }, "tls.client_cert_file"},
		{"cert file missing", func(c *cyberark.Config) { c.TLS.ClientCertFile = missing }, "tls.client_cert_file"},
		{"key file missing", func(c *cyberark.Config) { c.TLS.ClientKeyFile = missing }, "tls.client_key_file"},
		{"cert file garbage", func(c *cyberark.Config) { c.TLS.ClientCertFile = garbage }, "tls.client_key_file"},
		{"cert and key mismatched", func(c *cyberark.Config) { c.TLS.ClientKeyFile = srv.UntrustedClientKeyFile() }, "tls.client_key_file"},
		{"ca file missing", func(c *cyberark.Config) { c.TLS.CAFile = missing }, "tls.ca_file"},
		{"ca file garbage", func(c *cyberark.Config) { c.TLS.CAFile = garbage }, "tls.ca_file"},
		{"insecure with ca_file", func(c *cyberark.Config) { c.TLS.InsecureSkipVerifyThisIsUnsafe = true }, "tls.insecure_skip_verify_this_is_unsafe"},
		{"server_name with port", func(c *cyberark.Config) { c.TLS.ServerName = "host:443" }, "tls.server_name"},
		{"check_safe control character", func(c *cyberark.Config) { c.CheckSafe = "a\tb" }, "check_safe"},
		{"check_safe with ; in query mode", func(c *cyberark.Config) { c.QueryFormat = "regexp"; c.CheckSafe = "a;b" }, "check_safe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := baseConfig(srv)
			c.mod(&cfg)
			providertest.WantConfigFields(t, cfg.Validate(), c.field)
			p, err := cyberark.New(ctxT(t), cfg)
			if err == nil {
				p.Close()
				t.Fatal("New accepted the configuration")
			}
			var ce *providers.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *providers.ConfigError", err)
			}
			if ce.Field != c.field {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, c.field, err)
			}
			if ce.Problem == "" || ce.Fix == "" {
				t.Errorf("Problem or Fix empty: %+v", ce)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "u:p") {
				t.Errorf("error repeats a credential: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	// Only the required fields and the TLS files: defaults do the rest.
	cfg := cyberark.Config{
		URL:   srv.URL() + "/",
		AppID: srv.AppID(),
		TLS: cyberark.TLSConfig{ClientCertFile: srv.ClientCertFile(), ClientKeyFile: srv.ClientKeyFile(),
			CAFile: srv.CAFile()},
		Logger: quiet,
	}
	p := newProvider(t, cfg)
	if _, err := p.Get(ctxT(t), ref("cred")); err != nil {
		t.Fatalf("Get: %v", err)
	}
	q := srv.LastQuery()
	if q.Get("Folder") != cyberark.DefaultFolder || q.Has("ConnectionTimeout") {
		t.Errorf("server saw %v", q)
	}
}

func TestServeDuringChange(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "rotating", map[string]string{"Content": "old-password", "UserName": "u"})
	cfg := baseConfig(srv) // 3 attempts
	cfg.ServeDuringChange = true
	p := newProvider(t, cfg)

	// Still changing after every attempt: the last answer is served, marked.
	srv.SetPasswordChangeInProcess(safe, "rotating", 10)
	before := srv.Requests()
	got, err := p.Get(ctxT(t), ref("rotating"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !got.Rotating || got.Attributes["password"] != "old-password" {
		t.Fatalf("got rotating=%v password ok=%v", got.Rotating, got.Attributes["password"] == "old-password")
	}
	if n := srv.Requests() - before; n != 3 {
		t.Errorf("made %d requests, want 3", n)
	}
	// A change that ends within the attempts gives a settled password.
	srv.SetPasswordChangeInProcess(safe, "rotating", 1)
	got, err = p.Get(ctxT(t), ref("rotating"))
	if err != nil || got.Rotating {
		t.Fatalf("after the change: rotating=%v err=%v", got != nil && got.Rotating, err)
	}
	// CCP's error form carries no password: Unavailable even so.
	srv.FailNext(safe, "rotating", http.StatusInternalServerError, "APPAP282E", "being changed", -1)
	_, err = p.Get(ctxT(t), ref("rotating"))
	wantErr(t, p, err, providers.Unavailable, "PasswordChangeInProcess")

	// With no time left to wait, the marked password comes at once.
	srv2 := startServer(t)
	srv2.Seed(safe, "rotating", map[string]string{"Content": "old-password"})
	srv2.SetPasswordChangeInProcess(safe, "rotating", 100)
	cfg = baseConfig(srv2)
	cfg.MaxAttempts, cfg.Backoff, cfg.ServeDuringChange = 10, time.Hour, true
	p = newProvider(t, cfg)
	got, err = p.Get(ctxT(t), ref("rotating"))
	if err != nil || !got.Rotating {
		t.Fatalf("Get near the deadline: %v %v", got, err)
	}
	if n := srv2.Requests(); n != 1 {
		t.Errorf("made %d requests, want 1", n)
	}
}

func TestThrottled(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	p := newProvider(t, baseConfig(srv))
	srv.Throttle(safe, "cred", "12", 1)
	_, err := p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.ResourceExhausted, "throttling")
	if got := providers.RetryAfterOf(err); got != 12*time.Second {
		t.Errorf("RetryAfter = %v, want 12s", got)
	}
	srv.Throttle(safe, "cred", "", 1)
	_, err = p.Get(ctxT(t), ref("cred"))
	wantErr(t, p, err, providers.ResourceExhausted, "")
	if got := providers.RetryAfterOf(err); got != 0 {
		t.Errorf("RetryAfter without the header = %v", got)
	}
	if _, err := p.Get(ctxT(t), ref("cred")); err != nil {
		t.Fatalf("Get after the throttling: %v", err)
	}
}

func TestCheck(t *testing.T) {
	srv := startServer(t)
	p := newProvider(t, baseConfig(srv))
	ctx := ctxT(t)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	q := srv.LastQuery()
	if q.Get("Safe") != cyberark.DefaultCheckSafe || q.Get("Object") != "SecretBrokerHealthCheck" || q.Get("AppID") != srv.AppID() || q.Get("Reason") == "" {
		t.Fatalf("Check asked %v", q)
	}
	// A configured Safe, and an object that happens to exist: healthy.
	cfg := baseConfig(srv)
	cfg.CheckSafe = "RPA-Health"
	srv.Seed("RPA-Health", "SecretBrokerHealthCheck", map[string]string{"Content": "Tr0ub4dor&3"})
	p2 := newProvider(t, cfg)
	if err := p2.Check(ctx); err != nil {
		t.Fatalf("Check with an existing object: %v", err)
	}
	if q := srv.LastQuery(); q.Get("Safe") != "RPA-Health" {
		t.Fatalf("Check asked %v", q)
	}
	// A check object being changed: CCP answered, healthy, one request.
	srv.SetPasswordChangeInProcess("RPA-Health", "SecretBrokerHealthCheck", 10)
	before := srv.Requests()
	if err := p2.Check(ctx); err != nil || srv.Requests()-before != 1 {
		t.Fatalf("Check during a change: %v after %d requests", err, srv.Requests()-before)
	}

	srv.SetFault(cyberarktest.Denied)
	wantErr(t, p, p.Check(ctx), providers.PermissionDenied, "APPAP306E")
	srv.SetFault(cyberarktest.VaultDown)
	wantErr(t, p, p.Check(ctx), providers.Unavailable, "cannot reach the Vault")
	srv.SetFault(cyberarktest.NoFault)

	wrongWS := baseConfig(srv)
	wrongWS.WebService = "AIMWebServiceCert"
	wantErr(t, p, newProvider(t, wrongWS).Check(ctx), providers.FailedPrecondition, "web_service")
	down := baseConfig(srv)
	down.URL = "https://" + closedAddr()
	wantErr(t, p, newProvider(t, down).Check(ctx), providers.Unavailable, "connection refused")
	untrusted := baseConfig(srv)
	untrusted.TLS.CAFile = ""
	wantErr(t, p, newProvider(t, untrusted).Check(ctx), providers.Unavailable, "certificate not trusted")

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	wantErr(t, p, p.Check(canceled), providers.Canceled, "")
	p.Close()
	wantErr(t, p, p.Check(ctx), providers.FailedPrecondition, "closed")
}

func TestNotWritable(t *testing.T) {
	srv := startServer(t)
	srv.Seed(safe, "cred", map[string]string{"Content": "x"})
	p := newProvider(t, baseConfig(srv))
	if p.Writable() {
		t.Fatal("the CyberArk provider says it is Writable")
	}
	before := srv.Requests()
	ctx := ctxT(t)
	wantErr(t, p, p.Put(ctx, ref("cred"), &providers.Secret{Attributes: map[string]string{"password": "y"}}), providers.FailedPrecondition, "read-only")
	wantErr(t, p, p.Delete(ctx, ref("cred")), providers.FailedPrecondition, "read-only")
	if n := srv.Requests() - before; n != 0 {
		t.Fatalf("refused writes made %d requests", n)
	}
}
