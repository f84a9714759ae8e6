package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/internal/daemontest"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

var preflightHTMLCopy = flag.String("preflight-html", "", "also write the HTML report of TestPreflightDaemon to this file (for a screenshot)")

// preflightToken is the token of the identity "preflight" in
// testdata/preflight/daemon.yaml, which may only check.
const preflightToken = "tok-PREFLIGHT-e2e-7c1d"

// The values stored in the daemon: none may appear in any output.
var preflightValues = []string{"pw-SYSTEM-4e1f-do-not-leak", "pw-USER-93ab-do-not-leak", "pw-LOGIN-0d7c-do-not-leak"}

// TestPreflightDaemon runs preflight against a real secretbrokerd on the
// embedded store, with the configuration and files of testdata/preflight:
// auto-login names from Automation Anywhere's custom secrets mapping (two
// users mapped to one secret), NFC and NFD "Zoë", a locker the preflight
// identity is not granted.
func TestPreflightDaemon(t *testing.T) {
	bin := daemontest.Build(t)
	dir := t.TempDir()
	mapping, err := os.ReadFile(filepath.Join("testdata", "preflight", "aa-mapping.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "aa-mapping.csv"), mapping, 0o600); err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, bin, nil, "-config", filepath.Join("testdata", "preflight", "daemon.yaml"), "-data-dir", dir,
		"-listen", "127.0.0.1:0", "-admin-listen", "off")

	// Seed as the local admin.
	admin := pb.NewSecretBrokerClient(daemontest.DialToken(t, d.Addr, daemontest.AdminToken(t, dir)))
	sys, usr, login := preflightValues[0], preflightValues[1], preflightValues[2]
	for _, p := range []*pb.PutCredentialRequest{
		{Locker: "finance", Credential: "erp", Attributes: map[string]string{"username": "erp-bot", "password": sys}},
		{Locker: "finance", Credential: "erp", Username: `ABCD\user123`, Attributes: map[string]string{"password": usr}},
		{Locker: "demo", Credential: "sap", Username: `ABCD\user123`, Attributes: map[string]string{"password": usr}},
		{Locker: "demo", Credential: "sap", Username: "Zo\u00eb", Attributes: map[string]string{"password": usr}},
		{Locker: "hr", Credential: "vpn", Attributes: map[string]string{"password": sys}},
		{AutoLogin: true, Username: `ABCD\user123`, Attributes: map[string]string{"username": "user123", "password": login}},
		{AutoLogin: true, Username: `ABCD\jane`, Attributes: map[string]string{"username": "jane", "password": login}},
		{AutoLogin: true, Username: "Zo\u00eb", Attributes: map[string]string{"username": "zoe", "password": login}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := admin.PutCredential(ctx, p)
		cancel()
		if err != nil {
			t.Fatalf("seeding %v: %v", p, err)
		}
	}

	tokFile := filepath.Join(t.TempDir(), "preflight.token")
	if err := os.WriteFile(tokFile, []byte(preflightToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join("testdata", "preflight", "users.txt")
	pairs := filepath.Join("testdata", "preflight", "pairs.txt")
	base := []string{"-addr", d.Addr, "-token-file", tokFile, "preflight", "-users", users, "-pairs", pairs}

	// The table: the preflight identity may check finance, demo and
	// auto-login, not hr.
	r := runCLI(t, "", base...)
	wantTable := `USER          AUTO-LOGIN          finance/erp           demo/sap  hr/vpn                         COLLISIONS
ABCD\user123  present             present               present   unreadable (PermissionDenied)  -
ABCD\jane     present, colliding  falls back to system  missing   unreadable (PermissionDenied)  same name with ABCD\joe (line 3)
ABCD\joe      present, colliding  falls back to system  missing   unreadable (PermissionDenied)  same name with ABCD\jane (line 2)
Zoë           present             falls back to system  present   unreadable (PermissionDenied)  normalization with "Zoe\u0308" (line 5)
"Zoe\u0308"   missing             falls back to system  missing   unreadable (PermissionDenied)  normalization with Zoë (line 4)

Collisions:
  same_name: line 2 ABCD\jane and line 3 ABCD\joe: both users map to the same secret name: one user's credential serves the other
    rpa-shared-login and rpa-shared-login in provider store (embedded)
  normalization: line 4 Zoë and line 5 "Zoe\u0308": the usernames differ only in Unicode normalisation (line 4 is NFC, composed; line 5 is NFD, decomposed): they encode to different secret names, so at most one of them is the Control Room user's

Unreadable:
  hr/vpn: PermissionDenied for 5 users, such as ABCD\user123: check "vpn" in locker "hr" for user `
	if r.code != 1 || !strings.HasPrefix(r.stdout, wantTable) {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant it to start with:\n%s", r.code, r.stderr, r.stdout, wantTable)
	}
	if want := "\n5 users, 20 checks: 7 present, 4 falls back to system, 4 missing, 5 unreadable; 2 collisions, 0 flagged users\n"; !strings.HasSuffix(r.stdout, want) {
		t.Errorf("stdout does not end with %q:\n%s", want, r.stdout)
	}
	if want := "secretbroker: preflight: 4 missing, 5 unreadable, 2 collisions\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	outputs := r.stdout + r.stderr

	// JSON.
	r = runCLI(t, "", append(base, "-o", "json", "-bypass-cache")...)
	var rep preflightReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("code %d, stderr %q: %v in %q", r.code, r.stderr, err, r.stdout)
	}
	if r.code != 1 || !rep.BypassCache || rep.Summary != (preflightSummary{Users: 5, Checks: 20, Present: 7, System: 4, Missing: 4, Unreadable: 5, Collisions: 2}) {
		t.Errorf("code %d, summary %+v", r.code, rep.Summary)
	}
	jane := rep.Users[1]
	if al := jane.AutoLogin; al.Status != "present" || !al.Colliding || len(al.Secrets) != 1 ||
		al.Secrets[0] != (preflightSecret{Scope: "AUTO_LOGIN", Provider: "store", ProviderKind: "embedded", SecretName: "rpa-shared-login",
			LogicalName: "rpa-shared-login", Mapped: true, Exists: true, Code: "OK"}) {
		t.Errorf("jane's auto-login %+v", al)
	}
	if erp := jane.Credentials[0]; erp.Status != "system" || erp.User != "missing" || erp.System != "present" || len(erp.Secrets) != 2 ||
		erp.Secrets[0].SecretName != "accounting_erp_ABCD--jane" || erp.Secrets[0].Code != "NotFound" ||
		erp.Secrets[1].SecretName != "accounting_erp" || !erp.Secrets[1].Exists {
		t.Errorf("jane's finance/erp %+v", erp)
	}
	if hr := jane.Credentials[2]; hr.Status != "unreadable" || hr.Code != "PermissionDenied" || !strings.Contains(hr.Reason, `locker "hr"`) {
		t.Errorf("jane's hr/vpn %+v", hr)
	}
	outputs += r.stdout

	// HTML.
	page := filepath.Join(t.TempDir(), "report.html")
	r = runCLI(t, "", append(base, "-o", "html", "-out", page)...)
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("code %d, stderr %q: %v", r.code, r.stderr, err)
	}
	wantSelfContained(t, string(html))
	for _, s := range []string{"daemon <code>" + d.Addr + "</code>", "✓ <code>rpa-shared-login</code> <span class=\"muted\">exists, mapped</span>",
		"Problems: 4 missing, 5 unreadable, 2 collisions"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("the report lacks %q", s)
		}
	}
	if *preflightHTMLCopy != "" {
		if err := os.WriteFile(*preflightHTMLCopy, html, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outputs += r.stdout + string(html)

	// Everything present, nothing colliding: exit 0. The local admin token
	// (-data-dir) may check hr too; user123 falls back to its system
	// credential there.
	clean := writeFile(t, "users.txt", "ABCD\\user123\n")
	r = runCLI(t, "", "-addr", d.Addr, "-data-dir", dir, "preflight", "-users", clean, "-pairs", pairs)
	want := `USER          AUTO-LOGIN  finance/erp  demo/sap  hr/vpn                COLLISIONS
ABCD\user123  present     present      present   falls back to system  -

1 user, 4 checks: 3 present, 1 falls back to system, 0 missing, 0 unreadable; 0 collisions, 0 flagged users
`
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	outputs += r.stdout

	for _, v := range preflightValues {
		if strings.Contains(outputs, v) {
			t.Errorf("a stored value appears in preflight's output")
		}
	}
	// The daemon audited the checks as the preflight identity, with the
	// default purpose.
	audit, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), `"identity":"preflight"`) || !strings.Contains(string(audit), `"purpose":"secretbroker preflight"`) ||
		!strings.Contains(string(audit), `"operation":"check"`) {
		t.Errorf("the audit log lacks the preflight checks")
	}
	d.Stop(t)
}
