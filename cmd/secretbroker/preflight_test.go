package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/secretbroker/secretbroker/naming"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

var updatePreflight = flag.Bool("update-preflight", false, "rewrite the preflight golden files in testdata/preflight")

// fxSecret describes one candidate of a synthetic daemon answer.
type fxSecret struct {
	scope   pb.Scope
	prov    string
	kind    string
	safe    string
	logical string // encoded with the kind's default scheme, unless mapped
	place   int32
	mapped  bool
	code    string // OK, NotFound, PermissionDenied, ...
}

// fxPresence returns the daemon's answer for s, its name encoded as the
// daemon would.
func fxPresence(t *testing.T, s fxSecret) *pb.Presence {
	t.Helper()
	name := s.logical
	if !s.mapped {
		scheme, err := naming.NewScheme(s.kind, naming.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if name, err = scheme.Name(s.logical); err != nil {
			t.Fatal(err)
		}
	}
	p := &pb.Presence{
		Candidate: &pb.Candidate{Scope: s.scope, Mapped: s.mapped, Source: &pb.Source{
			Provider: s.prov, ProviderKind: s.kind, Location: s.safe, SecretName: name, LogicalName: s.logical, Place: s.place}},
		Exists: s.code == "OK", Code: s.code,
	}
	if s.code != "OK" {
		p.Reason = "reason for " + s.code
	}
	return p
}

// fxUser is a user of the fixture: the codes of its auto-login, its
// finance/erp user-defined and its demo/sap user-defined secrets. The
// system secret of finance/erp exists, that of demo/sap does not.
type fxUser struct {
	name          string
	line          int
	autoLogin     string
	mappedTo      string // auto-login mapped name, "" for the format
	erp, sap      string
	duplicateLine int
}

var fxPairs = []preflightPair{{Locker: "finance", Credential: "erp"}, {Locker: "demo", Credential: "sap"}}

func fxUsers() []fxUser {
	return []fxUser{
		{name: `ABCD\user123`, line: 1, autoLogin: "OK", erp: "OK", sap: "OK", duplicateLine: 12},
		{name: `ABCD\Bob`, line: 2, autoLogin: "OK", erp: "OK", sap: "NotFound"},
		{name: `abcd\bob`, line: 3, autoLogin: "NotFound", erp: "OK", sap: "OK"},
		{name: "Zo\u00eb", line: 5, autoLogin: "OK", erp: "NotFound", sap: "OK"},
		{name: "Zoe\u0308", line: 6, autoLogin: "NotFound", erp: "NotFound", sap: "NotFound"},
		{name: " carol", line: 7, autoLogin: "PermissionDenied", erp: "NotFound", sap: "Unavailable"},
		{name: "carol", line: 8, autoLogin: "OK", erp: "OK", sap: "OK"},
		{name: `ABCD\jane`, line: 9, autoLogin: "OK", mappedTo: "rpa-shared-login", erp: "OK", sap: "OK"},
		{name: `ABCD\joe`, line: 10, autoLogin: "OK", mappedTo: "rpa-shared-login", erp: "OK", sap: "OK"},
	}
}

// fxResults returns the results of the fixture: finance/erp lives in an
// Azure Key Vault (provider kv, prefix accounting), demo/sap and auto-login
// in the embedded store.
func fxResults(t *testing.T) []preflightUser {
	t.Helper()
	var out []preflightUser
	for _, u := range fxUsers() {
		al := fxSecret{scope: pb.Scope_SCOPE_AUTO_LOGIN, prov: "store", kind: "embedded", logical: "autologin_" + u.name, code: u.autoLogin}
		if u.mappedTo != "" {
			al.logical, al.mapped = u.mappedTo, true
		}
		alc := checkFromPresence(nil, []*pb.Presence{fxPresence(t, al)})
		pu := preflightUser{Username: u.name, Line: u.line, Flags: userFlags(u.name), AutoLogin: &alc}
		if u.duplicateLine != 0 {
			pu.DuplicateLines = []int{u.duplicateLine}
		}
		pu.Credentials = []preflightCheck{
			checkFromPresence(&fxPairs[0], []*pb.Presence{
				fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_USER, prov: "kv", kind: "azure", logical: naming.UserName("accounting", "erp", u.name), code: u.erp}),
				fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_SYSTEM, prov: "kv", kind: "azure", logical: naming.SystemName("accounting", "erp"), code: "OK"}),
			}),
			checkFromPresence(&fxPairs[1], []*pb.Presence{
				fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_USER, prov: "store", kind: "embedded", logical: naming.UserName("demo", "sap", u.name), code: u.sap}),
				fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_SYSTEM, prov: "store", kind: "embedded", logical: naming.SystemName("demo", "sap"), code: "NotFound"}),
			}),
		}
		out = append(out, pu)
	}
	return out
}

// fxReport is the report of the fixture, checked at a fixed time.
func fxReport(t *testing.T) *preflightReport {
	t.Helper()
	return newPreflightReport("127.0.0.1:7787", time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), fxPairs, true, false, fxResults(t))
}

func TestPreflightParseUsersText(t *testing.T) {
	in := "\uFEFFABCD\\user123\r\n\n  \n alice\t\nZo\u00eb\nABCD\\user123\nlast-without-newline"
	got, err := parseUsers("users.txt", []byte(in), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []preflightInputUser{
		{name: `ABCD\user123`, line: 1, duplicates: []int{6}},
		{name: " alice\t", line: 4},
		{name: "Zo\u00eb", line: 5},
		{name: "last-without-newline", line: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestPreflightParseUsersCSV(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []preflightInputUser
	}{
		{"custom secrets mapping with header", "\uFEFFUsername,Secret name\r\nABCD\\user123,autologin-user123\r\n\"ABCD\\o,dd\",x\r\n",
			[]preflightInputUser{{name: `ABCD\user123`, line: 2}, {name: `ABCD\o,dd`, line: 3}}},
		{"no header, one column, whitespace kept", "ABCD\\a\n bob \n\nABCD\\a\n",
			[]preflightInputUser{{name: `ABCD\a`, line: 1, duplicates: []int{4}}, {name: " bob ", line: 2}}},
		{"header User, multi-line quoted cell elsewhere", "user,notes\nalice,\"two\nlines\"\ncarol,\n",
			[]preflightInputUser{{name: "alice", line: 2}, {name: "carol", line: 4}}},
		{"only the first row is a header", "username\nusername\n",
			[]preflightInputUser{{name: "username", line: 2}}},
	} {
		got, err := parseUsers("u.csv", []byte(c.in), true)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v\nwant %#v", c.name, got, c.want)
		}
	}
}

func TestPreflightParseUsersErrors(t *testing.T) {
	for _, c := range []struct {
		in   string
		csv  bool
		want string
	}{
		{"", false, "u: no usernames in it"},
		{"\n \n\r\n", false, "u: no usernames in it"},
		{"Username\n", true, "u: no usernames in it"},
		{"alice\nbad\xff\n", false, "u:2: the username is not valid UTF-8"},
		{"alice\n\"unterminated\n", true, "u: parse error on line 2"},
	} {
		_, err := parseUsers("u", []byte(c.in), c.csv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q (csv %v): error %v, want %q", c.in, c.csv, err, c.want)
		}
	}
}

func TestPreflightParsePairs(t *testing.T) {
	got, err := parsePairs("p", []byte("# lockers to check\nfinance/erp\n\n  demo/sap  \nfinance/erp\nhr/a/b\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []preflightPair{{"finance", "erp"}, {"demo", "sap"}, {"finance", "erp"}, {"hr", "a/b"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := dedupePairs(got); !slices.Equal(got, []preflightPair{{"finance", "erp"}, {"demo", "sap"}, {"hr", "a/b"}}) {
		t.Errorf("dedupe: %v", got)
	}
	for in, want := range map[string]string{
		"finance/erp\nfinance\n": "-pairs p:2:",
		"/erp\n":                 "-pairs p:1:",
		"finance/\n":             "-pairs p:1:",
		"fin\x01/erp\n":          "-pairs p:1:",
	} {
		if _, err := parsePairs("p", []byte(in)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v, want prefix %q", in, err, want)
		}
	}
}

func TestPreflightCheckFromPresence(t *testing.T) {
	pair := &preflightPair{Locker: "finance", Credential: "erp"}
	sec := func(scope pb.Scope, place int32, code string) fxSecret {
		logical := naming.UserName("accounting", "erp", "u")
		if scope == pb.Scope_SCOPE_SYSTEM {
			logical = naming.SystemName("accounting", "erp")
		}
		return fxSecret{scope: scope, prov: "p" + string(rune('0'+place)), kind: "aws", logical: logical, place: place, code: code}
	}
	U, S := pb.Scope_SCOPE_USER, pb.Scope_SCOPE_SYSTEM
	for _, c := range []struct {
		name              string
		secrets           []fxSecret
		status, user, sys string
		code              string
	}{
		{"user exists", []fxSecret{sec(U, 0, "OK"), sec(S, 0, "OK")}, "present", "present", "present", ""},
		{"user only", []fxSecret{sec(U, 0, "OK"), sec(S, 0, "NotFound")}, "present", "present", "missing", ""},
		{"falls back to system", []fxSecret{sec(U, 0, "NotFound"), sec(S, 0, "OK")}, "system", "missing", "present", ""},
		{"neither", []fxSecret{sec(U, 0, "NotFound"), sec(S, 0, "NotFound")}, "missing", "missing", "missing", ""},
		{"user denied, never hidden by the system one", []fxSecret{sec(U, 0, "PermissionDenied"), sec(S, 0, "OK")}, "unreadable", "unreadable", "present", "PermissionDenied"},
		{"system unavailable", []fxSecret{sec(U, 0, "NotFound"), sec(S, 0, "Unavailable")}, "unreadable", "missing", "unreadable", "Unavailable"},
		{"user in the second place", []fxSecret{sec(U, 0, "NotFound"), sec(S, 0, "NotFound"), sec(U, 1, "OK"), sec(S, 1, "NotFound")}, "present", "present", "missing", ""},
		{"first place down, second has it", []fxSecret{sec(U, 0, "Unavailable"), sec(S, 0, "Unavailable"), sec(U, 1, "OK"), sec(S, 1, "OK")}, "present", "present", "present", ""},
		{"first place down, second lacks the user", []fxSecret{sec(U, 0, "Unavailable"), sec(S, 0, "Unavailable"), sec(U, 1, "NotFound"), sec(S, 1, "OK")}, "unreadable", "unreadable", "present", "Unavailable"},
		{"no candidates", nil, "missing", "missing", "missing", ""},
	} {
		var ps []*pb.Presence
		for _, s := range c.secrets {
			ps = append(ps, fxPresence(t, s))
		}
		got := checkFromPresence(pair, ps)
		if got.Status != c.status || got.User != c.user || got.System != c.sys || got.Code != c.code {
			t.Errorf("%s: status %q user %q system %q code %q; want %q %q %q %q", c.name, got.Status, got.User, got.System, got.Code,
				c.status, c.user, c.sys, c.code)
		}
		if got.Locker != "finance" || got.Credential != "erp" || len(got.Secrets) != len(c.secrets) {
			t.Errorf("%s: %+v", c.name, got)
		}
		if c.code != "" && got.Reason != "reason for "+c.code {
			t.Errorf("%s: reason %q", c.name, got.Reason)
		}
	}

	// Auto-login.
	for code, want := range map[string]string{"OK": "present", "NotFound": "missing", "PermissionDenied": "unreadable", "ResourceExhausted": "unreadable"} {
		got := checkFromPresence(nil, []*pb.Presence{fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_AUTO_LOGIN, prov: "s", kind: "embedded", logical: "autologin_u", code: code})})
		if got.Status != want || got.User != "" || got.System != "" || got.Locker != "" {
			t.Errorf("auto-login %s: %+v, want status %s", code, got, want)
		}
	}
}

func TestPreflightCheckFromError(t *testing.T) {
	pair := &preflightPair{Locker: "finance", Credential: "erp"}
	got := checkFromError(pair, &rpcError{st: status.New(codes.PermissionDenied, "check is not granted")})
	want := preflightCheck{Locker: "finance", Credential: "erp", Status: "unreadable", Code: "PermissionDenied", Reason: "check is not granted", Secrets: []preflightSecret{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := checkFromError(nil, &rpcError{st: status.New(codes.NotFound, "x")}); got.Status != "missing" {
		t.Errorf("NotFound: %+v", got)
	}
	for _, c := range []struct {
		err   error
		fatal bool
	}{
		{&rpcError{st: status.New(codes.Unauthenticated, "")}, true},
		{&rpcError{st: status.New(codes.Unavailable, ""), reached: false}, true},
		{&rpcError{st: status.New(codes.Unavailable, ""), reached: true}, false},
		{&rpcError{st: status.New(codes.DeadlineExceeded, ""), reached: false}, true},
		{&rpcError{st: status.New(codes.PermissionDenied, ""), reached: true}, false},
		{&rpcError{st: status.New(codes.InvalidArgument, ""), reached: true}, false},
		{&rpcError{st: status.New(codes.Canceled, ""), reached: true}, true},
		{errors.New("not from the daemon"), true},
	} {
		if got := fatalPreflightError(c.err); got != c.fatal {
			t.Errorf("%v: fatal %v, want %v", c.err, got, c.fatal)
		}
	}
}

func TestPreflightCollisions(t *testing.T) {
	rep := fxReport(t)
	want := []preflightCollision{
		{Kind: "case", Users: [2]string{`ABCD\Bob`, `abcd\bob`}, Lines: [2]int{2, 3},
			Detail: "their secret names differ only in case on a case-insensitive vault: both users read the same secret",
			Secrets: []preflightCollidingSecret{{Provider: "kv", ProviderKind: "azure",
				Names: [2]string{"accounting-5f-erp-5f-ABCD--Bob", "accounting-5f-erp-5f-abcd--bob"}}}},
		{Kind: "normalization", Users: [2]string{"Zo\u00eb", "Zoe\u0308"}, Lines: [2]int{5, 6},
			Detail:  "the usernames differ only in Unicode normalisation (line 5 is NFC, composed; line 6 is NFD, decomposed): they encode to different secret names, so at most one of them is the Control Room user's",
			Secrets: []preflightCollidingSecret{}},
		{Kind: "whitespace", Users: [2]string{" carol", "carol"}, Lines: [2]int{7, 8},
			Detail:  "the usernames differ only in leading or trailing whitespace: they encode to different secret names, so at most one of them is the Control Room user's",
			Secrets: []preflightCollidingSecret{}},
		{Kind: "same_name", Users: [2]string{`ABCD\jane`, `ABCD\joe`}, Lines: [2]int{9, 10},
			Detail:  "both users map to the same secret name: one user's credential serves the other",
			Secrets: []preflightCollidingSecret{{Provider: "store", ProviderKind: "embedded", Names: [2]string{"rpa-shared-login", "rpa-shared-login"}}}},
	}
	if !reflect.DeepEqual(rep.Collisions, want) {
		got, _ := json.MarshalIndent(rep.Collisions, "", "  ")
		t.Errorf("collisions:\n%s", got)
	}
	// Only the colliding checks are marked: Bob's and bob's finance/erp
	// (azure), jane's and joe's auto-login; not bob's auto-login or demo/sap
	// in the case-sensitive store.
	var marked []string
	for _, u := range rep.Users {
		for _, c := range u.checks() {
			if c.Colliding {
				marked = append(marked, u.Username+" "+checkName(c))
			}
		}
	}
	if want := []string{`ABCD\Bob finance/erp`, `abcd\bob finance/erp`, `ABCD\jane auto-login`, `ABCD\joe auto-login`}; !slices.Equal(marked, want) {
		t.Errorf("colliding checks %q, want %q", marked, want)
	}
	if want := (preflightSummary{Users: 9, Checks: 27, Present: 18, System: 3, Missing: 4, Unreadable: 2, Collisions: 4, Flagged: 1}); rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
}

func TestPreflightCollisionsCaseOnCyberArkSafes(t *testing.T) {
	mk := func(name, safe string) preflightUser {
		c := checkFromPresence(&preflightPair{Locker: "gl", Credential: "pdf"}, []*pb.Presence{
			fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_USER, prov: "ark", kind: "cyberark", safe: safe, logical: "pdf_" + name, code: "NotFound"}),
			fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_SYSTEM, prov: "ark", kind: "cyberark", safe: safe, logical: "pdf", code: "OK"}),
		})
		return preflightUser{Username: name, Flags: userFlags(name), Credentials: []preflightCheck{c}}
	}
	// Same Safe: a collision; another Safe: none; an AWS-like
	// case-sensitive kind: none.
	users := []preflightUser{mk("Alice", "finance"), mk("alice", "finance"), mk("ALICE", "hr")}
	users[0].Line, users[1].Line, users[2].Line = 1, 2, 3
	got := findCollisions(users)
	if len(got) != 1 || got[0].Kind != "case" || got[0].Users != [2]string{"Alice", "alice"} ||
		got[0].Secrets[0].Safe != "finance" || got[0].Secrets[0].Names != [2]string{"pdf_Alice", "pdf_alice"} {
		t.Errorf("collisions %+v", got)
	}
	// The shared system credential never collides.
	if users[2].Credentials[0].Colliding {
		t.Error("the user in another Safe is marked colliding")
	}

	aws := func(name string, line int) preflightUser {
		c := checkFromPresence(&preflightPair{Locker: "x", Credential: "y"}, []*pb.Presence{
			fxPresence(t, fxSecret{scope: pb.Scope_SCOPE_USER, prov: "aws", kind: "aws", logical: "x_y_" + name, code: "OK"})})
		return preflightUser{Username: name, Line: line, Flags: userFlags(name), Credentials: []preflightCheck{c}}
	}
	if got := findCollisions([]preflightUser{aws("Alice", 1), aws("alice", 2)}); len(got) != 0 {
		t.Errorf("case-sensitive kind: %+v", got)
	}
}

func TestPreflightNormalizationAndWhitespaceTogether(t *testing.T) {
	users := []preflightUser{
		{Username: "Zo\u00eb ", Line: 1, Flags: userFlags("Zo\u00eb ")},
		{Username: "Zoe\u0308", Line: 2, Flags: userFlags("Zoe\u0308")},
		{Username: "Zoe", Line: 3, Flags: userFlags("Zoe")},
	}
	got := findCollisions(users)
	if len(got) != 1 || got[0].Kind != "normalization" || got[0].Lines != [2]int{1, 2} ||
		!strings.Contains(got[0].Detail, "and in leading or trailing whitespace") {
		t.Errorf("collisions %+v", got)
	}
	if !slices.Equal(users[0].Flags, []string{"whitespace"}) || len(users[1].Flags) != 0 {
		t.Errorf("flags %q %q", users[0].Flags, users[1].Flags)
	}
}

func TestPreflightDisplayUser(t *testing.T) {
	for in, want := range map[string]string{
		`ABCD\user123`: `ABCD\user123`,
		"Zo\u00eb":     "Zo\u00eb",
		"Zoe\u0308":    `"Zoe\u0308"`,
		" carol":       `" carol"`,
		"a\x1bb":       `"a\x1bb"`,
	} {
		if got := displayUser(in); got != want {
			t.Errorf("displayUser(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPreflightTable(t *testing.T) {
	var b bytes.Buffer
	if err := writePreflightTable(&b, fxReport(t)); err != nil {
		t.Fatal(err)
	}
	want := `USER          AUTO-LOGIN                     finance/erp           demo/sap                  COLLISIONS
ABCD\user123  present                        present               present                   -
ABCD\Bob      present                        present, colliding    missing                   case with abcd\bob (line 3)
abcd\bob      missing                        present, colliding    present                   case with ABCD\Bob (line 2)
Zoë           present                        falls back to system  present                   normalization with "Zoe\u0308" (line 6)
"Zoe\u0308"   missing                        falls back to system  missing                   normalization with Zoë (line 5)
" carol"      unreadable (PermissionDenied)  falls back to system  unreadable (Unavailable)  leading/trailing whitespace; whitespace with carol (line 8)
carol         present                        present               present                   whitespace with " carol" (line 7)
ABCD\jane     present, colliding             present               present                   same name with ABCD\joe (line 10)
ABCD\joe      present, colliding             present               present                   same name with ABCD\jane (line 9)

Collisions:
  case: line 2 ABCD\Bob and line 3 abcd\bob: their secret names differ only in case on a case-insensitive vault: both users read the same secret
    accounting-5f-erp-5f-ABCD--Bob and accounting-5f-erp-5f-abcd--bob in provider kv (azure)
  normalization: line 5 Zoë and line 6 "Zoe\u0308": the usernames differ only in Unicode normalisation (line 5 is NFC, composed; line 6 is NFD, decomposed): they encode to different secret names, so at most one of them is the Control Room user's
  whitespace: line 7 " carol" and line 8 carol: the usernames differ only in leading or trailing whitespace: they encode to different secret names, so at most one of them is the Control Room user's
  same_name: line 9 ABCD\jane and line 10 ABCD\joe: both users map to the same secret name: one user's credential serves the other
    rpa-shared-login and rpa-shared-login in provider store (embedded)

Unreadable:
  " carol" auto-login: PermissionDenied: reason for PermissionDenied
  " carol" demo/sap: Unavailable: reason for Unavailable

9 users, 27 checks: 18 present, 3 falls back to system, 4 missing, 2 unreadable; 4 collisions, 1 flagged user
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPreflightJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writePreflightFormat(&b, fxReport(t), "json"); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	// The documented top-level fields, and no others.
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"autologin", "bypass_cache", "collisions", "daemon", "pairs", "schema", "summary", "time", "users"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if m["schema"] != "secretbroker.preflight.v1" || m["time"] != "2026-03-04T05:06:07Z" || m["daemon"] != "127.0.0.1:7787" {
		t.Errorf("header %v %v %v", m["schema"], m["time"], m["daemon"])
	}
	s := m["summary"].(map[string]any)
	if s["ok"] != false || s["missing"] != 4.0 || s["system"] != 3.0 || s["flagged_users"] != 1.0 {
		t.Errorf("summary %v", s)
	}
	u0 := m["users"].([]any)[0].(map[string]any)
	if u0["username"] != `ABCD\user123` || !reflect.DeepEqual(u0["duplicate_lines"], []any{12.0}) || !reflect.DeepEqual(u0["flags"], []any{}) {
		t.Errorf("user 0: %v", u0)
	}
	erp := u0["credentials"].([]any)[0].(map[string]any)
	sec := erp["secrets"].([]any)[0].(map[string]any)
	wantSec := map[string]any{"scope": "USER", "provider": "kv", "provider_kind": "azure", "safe": "", "secret_name": "accounting-5f-erp-5f-ABCD--user123",
		"logical_name": `accounting_erp_ABCD\user123`, "place": 0.0, "mapped": false, "exists": true, "code": "OK", "reason": ""}
	if erp["locker"] != "finance" || erp["status"] != "present" || erp["user"] != "present" || erp["system"] != "present" ||
		erp["colliding"] != false || !reflect.DeepEqual(sec, wantSec) {
		t.Errorf("finance/erp of user 0: %v", erp)
	}
	al := u0["autologin"].(map[string]any)
	if _, ok := al["locker"]; ok || al["status"] != "present" {
		t.Errorf("auto-login of user 0: %v", al)
	}
	// It decodes back to the same report.
	var back preflightReport
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, fxReport(t)) {
		t.Error("the JSON does not decode to the report")
	}
}

func TestPreflightHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := writePreflightHTML(&b, fxReport(t)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "preflight", "report.golden.html")
	if *updatePreflight {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestPreflightHTMLGolden -update-preflight to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("the HTML report differs from %s (if the change is meant, rerun with -update-preflight and review the diff)", golden)
	}
	wantSelfContained(t, b.String())
	if strings.Contains(b.String(), "http:") || strings.Contains(b.String(), "https:") || strings.Contains(b.String(), "//") {
		t.Error("the report names a URL")
	}
	for _, s := range []string{
		"Problems: 4 missing, 2 unreadable, 4 collisions, 1 flagged user",
		"✓ <code>accounting-5f-erp-5f-ABCD--Bob</code> <span class=\"muted\">exists</span>",
		"system: ✗ <code>demo_sap</code> not found",
		`<span class="mono">&#34;Zoe\u0308&#34;</span> <span class="muted">(escaped)</span>`,
		`<td class="present colliding"><span class="badge">✓ present</span><span class="collide">⇄ colliding</span>`,
		`<span class="badge">! unreadable</span>`,
		`<div class="code"><code>PermissionDenied</code></div>`,
		`<div class="reason">reason for PermissionDenied</div>`,
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("the report lacks %q", s)
		}
	}
}

// wantSelfContained fails t if page loads or runs anything: no tag that
// loads or runs something, no attribute that names a URL or handles an
// event, no CSS that fetches.
func wantSelfContained(t *testing.T, page string) {
	t.Helper()
	tags := regexp.MustCompile(`<[a-zA-Z][^>]*>`).FindAllString(page, -1)
	if len(tags) < 50 {
		t.Fatalf("only %d tags in the page", len(tags))
	}
	name := regexp.MustCompile(`^<([a-zA-Z0-9]+)`)
	attr := regexp.MustCompile(`(?i)\s(src|href|action|formaction|srcset|on[a-z]+)\s*=`)
	for _, tag := range tags {
		switch strings.ToLower(name.FindStringSubmatch(tag)[1]) {
		case "script", "link", "img", "iframe", "object", "embed", "base", "form", "svg", "video", "audio", "source":
			t.Errorf("the page has the tag %s", tag)
		}
		if attr.MatchString(tag) {
			t.Errorf("the page has the tag %s", tag)
		}
	}
	style := page[strings.Index(page, "<style>"):strings.Index(page, "</style>")]
	for _, bad := range []string{"url(", "@import", "@font-face", "http"} {
		if strings.Contains(style, bad) {
			t.Errorf("the style sheet has %q", bad)
		}
	}
}

func TestPreflightHTMLEscapes(t *testing.T) {
	hostile := `<img src=x onerror=alert(1)>`
	pair := preflightPair{Locker: `<script>x</script>`, Credential: `"><u>`}
	c := checkFromPresence(&pair, []*pb.Presence{{
		Candidate: &pb.Candidate{Scope: pb.Scope_SCOPE_USER, Source: &pb.Source{Provider: `<i>p</i>`, ProviderKind: "aws",
			SecretName: `</code><script>alert(2)</script>`}},
		Code: "PermissionDenied", Reason: `<a href="https://evil.example/">click</a>`,
	}})
	users := []preflightUser{{Username: hostile, Line: 1, Flags: userFlags(hostile), Credentials: []preflightCheck{c}}}
	rep := newPreflightReport(`<b>daemon</b>`, time.Unix(0, 0), []preflightPair{pair}, false, true, users)
	var b bytes.Buffer
	if err := writePreflightHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	wantSelfContained(t, b.String())
	for _, raw := range []string{hostile, "<script>", `"><u>`, "<i>p", "<a "} {
		if strings.Contains(b.String(), raw) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	if !strings.Contains(b.String(), "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the username is not shown escaped")
	}
}

func TestPreflightRunSpendsATokenPerCheck(t *testing.T) {
	users := []preflightInputUser{{name: "a", line: 1}, {name: "b", line: 2}, {name: "c", line: 3}}
	var waits, calls atomic.Int32
	var inflight, most atomic.Int32
	r := &preflightRun{
		users: users, pairs: fxPairs, autoLogin: true, bypassCache: true, workers: 2,
		wait: func(context.Context) error { waits.Add(1); return nil },
		check: func(_ context.Context, req *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
			calls.Add(1)
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			if !req.GetBypassCache() {
				t.Error("bypass_cache not sent")
			}
			if req.GetUsername() == "b" && req.GetLocker() == "demo" {
				return nil, &rpcError{st: status.New(codes.PermissionDenied, "no"), reached: true}
			}
			return &pb.CheckCredentialsResponse{}, nil
		},
	}
	got, err := r.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if waits.Load() != 9 || calls.Load() != 9 {
		t.Errorf("%d waits and %d calls, want 9 of each (3 users x (auto-login + 2 pairs))", waits.Load(), calls.Load())
	}
	if most.Load() > 2 {
		t.Errorf("%d checks in flight at once, want at most 2 workers", most.Load())
	}
	if len(got) != 3 || got[1].AutoLogin == nil || got[1].Credentials[1].Status != "unreadable" || got[1].Credentials[1].Code != "PermissionDenied" ||
		got[1].Credentials[0].Locker != "finance" || got[2].Credentials[1].Locker != "demo" {
		t.Errorf("results %+v", got)
	}

	// A refused wait (the context ended) ends the run; so does a fatal error.
	stop := errors.New("stop")
	r.wait = func(context.Context) error {
		if waits.Add(1) > 12 {
			return stop
		}
		return nil
	}
	if _, err := r.run(context.Background()); !errors.Is(err, stop) {
		t.Errorf("run with a failing wait: %v", err)
	}
	r.wait = func(context.Context) error { return nil }
	r.check = func(context.Context, *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
		return nil, &rpcError{st: status.New(codes.Unauthenticated, "who are you")}
	}
	var re *rpcError
	if _, err := r.run(context.Background()); !errors.As(err, &re) || re.st.Code() != codes.Unauthenticated {
		t.Errorf("run with Unauthenticated: %v", err)
	}
}
