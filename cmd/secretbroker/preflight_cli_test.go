package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/secretbroker/secretbroker/naming"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// preflightFake answers CheckCredentials like a daemon on one embedded
// store whose lockers use their name as prefix: the secrets in exists
// exist; users in refuse get that gRPC code for the whole check.
type preflightFake struct {
	pb.UnimplementedSecretBrokerServer

	mu       sync.Mutex
	exists   map[string]bool
	refuse   map[string]codes.Code
	reqs     []*pb.CheckCredentialsRequest
	purposes []string
}

func (f *preflightFake) CheckCredentials(ctx context.Context, req *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, proto.Clone(req).(*pb.CheckCredentialsRequest))
	f.purposes = append(f.purposes, strings.Join(md.Get(purposeKey), ","))
	if c, ok := f.refuse[req.GetUsername()]; ok {
		return nil, status.Error(c, "refused by the test")
	}
	scheme, err := naming.NewScheme(naming.Embedded, naming.Options{})
	if err != nil {
		return nil, err
	}
	type cand struct {
		scope   pb.Scope
		logical string
	}
	var cands []cand
	if req.GetAutoLogin() {
		cands = []cand{{pb.Scope_SCOPE_AUTO_LOGIN, "autologin_" + req.GetUsername()}}
	} else {
		cands = []cand{
			{pb.Scope_SCOPE_USER, naming.UserName(req.GetLocker(), req.GetCredential(), req.GetUsername())},
			{pb.Scope_SCOPE_SYSTEM, naming.SystemName(req.GetLocker(), req.GetCredential())},
		}
	}
	resp := &pb.CheckCredentialsResponse{}
	for _, c := range cands {
		name, err := scheme.Name(c.logical)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		p := &pb.Presence{Candidate: &pb.Candidate{Scope: c.scope, Source: &pb.Source{Provider: "store", ProviderKind: "embedded",
			Locker: req.GetLocker(), SecretName: name, LogicalName: c.logical}}, Code: "NotFound", Reason: "secret not found"}
		if f.exists[name] {
			p.Exists, p.Code, p.Reason = true, "OK", ""
		}
		resp.Presence = append(resp.Presence, p)
	}
	return resp, nil
}

// requests returns the requests the fake got, sorted by user, auto-login
// first, then locker and credential (the CLI sends them concurrently).
func (f *preflightFake) requests() []*pb.CheckCredentialsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.reqs)
	slices.SortFunc(out, func(a, b *pb.CheckCredentialsRequest) int {
		ka := a.GetUsername() + "\x00" + map[bool]string{true: "0", false: "1"}[a.GetAutoLogin()] + a.GetLocker() + "/" + a.GetCredential()
		kb := b.GetUsername() + "\x00" + map[bool]string{true: "0", false: "1"}[b.GetAutoLogin()] + b.GetLocker() + "/" + b.GetCredential()
		return strings.Compare(ka, kb)
	})
	return out
}

// startPreflightFake serves f on 127.0.0.1 and returns its address.
func startPreflightFake(t *testing.T, f *preflightFake) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterSecretBrokerServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// writeFile writes content to name in a temporary directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPreflightCommandAllPresent(t *testing.T) {
	f := &preflightFake{exists: map[string]bool{
		"autologin_ABCD--user123": true, "autologin_jane": true,
		"finance_erp_ABCD--user123": true, "finance_erp": true,
	}}
	addr := startPreflightFake(t, f)
	users := writeFile(t, "users.txt", "ABCD\\user123\njane\n")
	r := runCLI(t, "", "-addr", addr, "preflight", "-users", users, "-check", "finance/erp", "-bypass-cache")
	want := `USER          AUTO-LOGIN  finance/erp           COLLISIONS
ABCD\user123  present     present               -
jane          present     falls back to system  -

2 users, 4 checks: 3 present, 1 falls back to system, 0 missing, 0 unreadable; 0 collisions, 0 flagged users
`
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	wantReqs := []*pb.CheckCredentialsRequest{
		{AutoLogin: true, Username: `ABCD\user123`, BypassCache: true},
		{Locker: "finance", Credential: "erp", Username: `ABCD\user123`, BypassCache: true},
		{AutoLogin: true, Username: "jane", BypassCache: true},
		{Locker: "finance", Credential: "erp", Username: "jane", BypassCache: true},
	}
	got := f.requests()
	if len(got) != len(wantReqs) {
		t.Fatalf("requests %v", got)
	}
	for i := range got {
		if !proto.Equal(got[i], wantReqs[i]) {
			t.Errorf("request %d: %v, want %v", i, got[i], wantReqs[i])
		}
	}
	for _, p := range f.purposes {
		if p != "secretbroker preflight" {
			t.Errorf("purpose %q, want the default", p)
		}
	}

	// -purpose replaces the default; -autologin=false checks only pairs.
	f.mu.Lock()
	f.reqs, f.purposes = nil, nil
	f.mu.Unlock()
	r = runCLI(t, "", "-addr", addr, "-purpose", "CHG-42", "preflight", "-users", users, "-check", "finance/erp", "-autologin=false")
	if r.code != 0 || len(f.requests()) != 2 || f.requests()[0].GetAutoLogin() || !slices.Equal(f.purposes, []string{"CHG-42", "CHG-42"}) {
		t.Errorf("code %d, stderr %q, requests %v, purposes %q", r.code, r.stderr, f.requests(), f.purposes)
	}
	if strings.Contains(r.stdout, "AUTO-LOGIN") {
		t.Errorf("auto-login column without auto-login checks:\n%s", r.stdout)
	}
}

func TestPreflightCommandProblems(t *testing.T) {
	f := &preflightFake{
		exists: map[string]bool{"autologin_alice": true, "hr_payroll_alice": true},
		refuse: map[string]codes.Code{"mallory": codes.PermissionDenied, "trent": codes.PermissionDenied},
	}
	addr := startPreflightFake(t, f)
	users := writeFile(t, "users.csv", "Username,Secret\nalice,x\nbob,y\nmallory,z\ntrent\n")
	pairs := writeFile(t, "pairs.txt", "# payroll\nhr/payroll\n")
	r := runCLI(t, "", "-addr", addr, "preflight", "-users", users, "-pairs", pairs)
	want := `USER     AUTO-LOGIN                     hr/payroll                     COLLISIONS
alice    present                        present                        -
bob      missing                        missing                        -
mallory  unreadable (PermissionDenied)  unreadable (PermissionDenied)  -
trent    unreadable (PermissionDenied)  unreadable (PermissionDenied)  -

Unreadable:
  auto-login: PermissionDenied for 2 users, such as mallory: refused by the test
  hr/payroll: PermissionDenied for 2 users, such as mallory: refused by the test

4 users, 8 checks: 2 present, 0 falls back to system, 2 missing, 4 unreadable; 0 collisions, 0 flagged users
`
	if r.code != 1 || r.stdout != want || r.stderr != "secretbroker: preflight: 2 missing, 4 unreadable\n" {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}

	// JSON on stdout.
	r = runCLI(t, "", "-addr", addr, "preflight", "-users", users, "-pairs", pairs, "-o", "json")
	var rep preflightReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	if r.code != 1 || rep.Schema != "secretbroker.preflight.v1" || rep.Daemon != addr || len(rep.Users) != 4 ||
		rep.Users[1].Username != "bob" || rep.Users[1].Line != 3 || rep.Users[1].Credentials[0].Status != "missing" ||
		rep.Users[2].AutoLogin.Code != "PermissionDenied" || rep.Summary.OK {
		t.Errorf("code %d, report %+v", r.code, rep)
	}

	// HTML to a file, the table on stdout.
	out := filepath.Join(t.TempDir(), "report.html")
	r = runCLI(t, "", "-addr", addr, "preflight", "-users", users, "-pairs", pairs, "-o", "html", "-out", out)
	if r.code != 1 || !strings.HasPrefix(r.stdout, "USER ") || !strings.HasSuffix(r.stdout, "report written to "+out+"\n") {
		t.Errorf("code %d, stdout %q", r.code, r.stdout)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, %v", fi.Mode(), err)
	}
	if !strings.HasPrefix(string(page), "<!DOCTYPE html>") || !strings.Contains(string(page), "✓ <code>hr_payroll_alice</code> <span class=\"muted\">exists</span>") {
		t.Errorf("page %q", page)
	}
	wantSelfContained(t, string(page))
}

func TestPreflightCommandCollisionsExit1(t *testing.T) {
	f := &preflightFake{exists: map[string]bool{"autologin_Zo-c3--ab-": true, "autologin_Zoe-cc--88-": true}}
	addr := startPreflightFake(t, f)
	users := writeFile(t, "users.txt", "Zo\u00eb\nZoe\u0308\n")
	r := runCLI(t, "", "-addr", addr, "preflight", "-users", users)
	if r.code != 1 || r.stderr != "secretbroker: preflight: 1 collision\n" ||
		!strings.Contains(r.stdout, `normalization: line 1 Zoë and line 2 "Zoe\u0308"`) {
		t.Errorf("code %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
}

func TestPreflightCommandFatalErrors(t *testing.T) {
	// The daemon refuses the credential: the run stops at once, no report.
	f := &preflightFake{refuse: map[string]codes.Code{"a": codes.Unauthenticated, "b": codes.Unauthenticated}}
	addr := startPreflightFake(t, f)
	users := writeFile(t, "users.txt", "a\nb\n")
	r := runCLI(t, "", "-addr", addr, "preflight", "-users", users)
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "secretbroker: Unauthenticated: refused by the test (sent: no credential;") {
		t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// No daemon at the address: the error and the hint.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	r = runCLI(t, "", "-addr", closed, "preflight", "-users", users)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 1 || r.stdout != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "secretbroker: Unavailable: ") ||
		!strings.Contains(lines[1], "is secretbrokerd running at "+closed+"?") {
		t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestPreflightCommandUsage(t *testing.T) {
	users := writeFile(t, "users.txt", "alice\n")
	empty := writeFile(t, "empty.txt", "\n\n")
	badPairs := writeFile(t, "pairs.txt", "finance\n")
	missing := filepath.Join(t.TempDir(), "missing.txt")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"preflight"}, "-users FILE is required"},
		{[]string{"preflight", "-users", users, "extra"}, `unexpected argument "extra"`},
		{[]string{"preflight", "-users", users, "-o", "yaml"}, `-o "yaml": want table, json or html`},
		{[]string{"-o", "yaml", "preflight", "-users", users}, `-o "yaml": want table, json or html`},
		{[]string{"preflight", "-users", users, "-rps", "0"}, "-rps 0: want a positive number"},
		{[]string{"preflight", "-users", users, "-rps", "-3"}, "-rps -3: want a positive number"},
		{[]string{"preflight", "-users", users, "-out", "x.html"}, "-out is for -o json or -o html"},
		{[]string{"preflight", "-users", users, "-check", "finance"}, `-check "finance": "finance": want locker/credential`},
		{[]string{"preflight", "-users", users, "-pairs", badPairs}, "-pairs " + badPairs + ":1:"},
		{[]string{"preflight", "-users", users, "-autologin=false"}, "nothing to check"},
		{[]string{"preflight", "-users", empty}, "no usernames in it"},
		{[]string{"preflight", "-users", missing}, "-users: open " + missing},
		{[]string{"preflight", "-users", users, "-cert", "c.pem"}, "-cert and -key go together"},
	} {
		r := runCLI(t, "", c.args...)
		wantOneErrorLine(t, r, 2)
		if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "(see 'secretbroker preflight -h')") {
			t.Errorf("%q: stderr %q, want %q", c.args, r.stderr, c.want)
		}
	}

	// -h documents the JSON schema and the exit codes, on stdout, exit 0.
	r := runCLI(t, "", "preflight", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, `"schema": "secretbroker.preflight.v1"`) || !strings.Contains(r.stdout, "Exit code: 0 when") ||
		!strings.Contains(r.stdout, "-rps N") {
		t.Errorf("code %d, stdout %q", r.code, r.stdout)
	}
}
