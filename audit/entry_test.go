package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// fixedClock returns a clock that always says t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// clock0 is the fixed time of the literal tests.
var clock0 = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

// typicalEntry is a served request with every usual field set.
func typicalEntry() *Entry {
	return &Entry{
		Time:       time.Date(2025, 6, 7, 10, 9, 10, 123456789, time.FixedZone("CEST", 2*3600)),
		Identity:   "spiffe://example.org/bot-runner",
		AuthMethod: "mtls",
		Purpose:    "nightly invoices",
		Operation:  "credential",
		Locker:     "demo_erp",
		Credential: "login",
		Username:   `ABCD\user123`,
		Tried:      []string{"USER demo_erp_login_ABCD--user123 @store", "SYSTEM demo_erp_login @store"},
		Served:     "demo_erp_login",
		Provider:   "store",
		Place:      1,
		Scope:      "SYSTEM",
		Cache:      "miss",
		Decision:   "allowed",
		Rule:       "clients[0] bot-runners",
		Code:       "OK",
		LatencyMS:  1.25,
	}
}

// TestLinesLiteral writes a genesis anchor, a served request and a denied
// one with a fixed clock and compares the bytes with lines written out by
// hand. The hashes were computed independently of this package, with
// Python's hashlib over the bytes before `,"hash":"`.
func TestLinesLiteral(t *testing.T) {
	var buf bytes.Buffer
	l, err := Open(Options{Path: "-", Writer: &buf, Now: fixedClock(clock0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(typicalEntry()); err != nil {
		t.Fatal(err)
	}
	denied := &Entry{
		Identity: "unix:uid:1001", AuthMethod: "unix", Purpose: "a \"quoted\"\nline", Operation: "autologin",
		Username: "user123@rpa.abcd.com", Decision: "denied", Rule: "default deny", Code: "PermissionDenied",
		LatencyMS: 0.042, Error: `not allowed: autologin for "user123@rpa.abcd.com"`,
	}
	if err := l.Write(denied); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"anchor","reason":"open","time":"2025-06-07T08:09:10Z","seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"HASH0"}
{"time":"2025-06-07T08:09:10.123456789Z","identity":"spiffe://example.org/bot-runner","auth_method":"mtls","purpose":"nightly invoices","operation":"credential","locker":"demo_erp","credential":"login","username":"ABCD\\user123","tried":["USER demo_erp_login_ABCD--user123 @store","SYSTEM demo_erp_login @store"],"served":"demo_erp_login","provider":"store","place":1,"scope":"SYSTEM","cache":"miss","decision":"allowed","rule":"clients[0] bot-runners","code":"OK","latency_ms":1.25,"seq":1,"prev":"HASH0","hash":"HASH1"}
{"time":"2025-06-07T08:09:10Z","identity":"unix:uid:1001","auth_method":"unix","purpose":"a \"quoted\"\nline","operation":"autologin","username":"user123@rpa.abcd.com","decision":"denied","rule":"default deny","code":"PermissionDenied","latency_ms":0.042,"error":"not allowed: autologin for \"user123@rpa.abcd.com\"","seq":2,"prev":"HASH1","hash":"HASH2"}
`
	want = strings.NewReplacer(
		"HASH0", "35081bcc88eb159f2d9213cb80bfb7aad8da0f2bf80d3f89a7b5de1925fcdee6",
		"HASH1", "6c5f682f506ccb973e3c7405ed8b1546b6b1519a0a77a48fa264f184034fd20e",
		"HASH2", "845c1e465d2885360bad4154a3fd6043251780504f17c67b2e22690a9707899a",
	).Replace(want)
	if got := buf.String(); got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
	seq, hash := l.Head()
	if seq != 2 || !strings.HasSuffix(want, `"hash":"`+hash+"\"}\n") {
		t.Errorf("Head() = %d, %s", seq, hash)
	}
}

// TestEntryMatchesEncodingJSON checks the hand-written encoder against
// encoding/json on entries with awkward strings and numbers.
func TestEntryMatchesEncodingJSON(t *testing.T) {
	// mirror has Entry's fields and tags; Place is written only with
	// Served, so it is a pointer here.
	type mirror struct {
		Time       time.Time `json:"time"`
		Identity   string    `json:"identity"`
		AuthMethod string    `json:"auth_method,omitempty"`
		Purpose    string    `json:"purpose,omitempty"`
		Operation  string    `json:"operation"`
		Locker     string    `json:"locker,omitempty"`
		Credential string    `json:"credential,omitempty"`
		Username   string    `json:"username,omitempty"`
		Tried      []string  `json:"tried,omitempty"`
		Served     string    `json:"served,omitempty"`
		Provider   string    `json:"provider,omitempty"`
		Place      *int      `json:"place,omitempty"`
		Scope      string    `json:"scope,omitempty"`
		Stale      bool      `json:"stale,omitempty"`
		Cache      string    `json:"cache,omitempty"`
		Decision   string    `json:"decision"`
		Rule       string    `json:"rule,omitempty"`
		Code       string    `json:"code"`
		LatencyMS  float64   `json:"latency_ms"`
		Error      string    `json:"error,omitempty"`
	}
	strs := []string{"", "plain", `back\slash "quote"`, "ctl\x00\x01\x1f\x7f\b\f\n\r\t", "bad utf8 \xff\xfe end",
		"line\u2028para\u2029", "<html>&amp;", "josé 日本 🔑", "\xed\xa0\x80 surrogate"}
	floats := []float64{0, 1, 0.5, 1.25, 123456.789, 1e-7, 1e-6, 1e20, 1e21, 123e300, -2.5, 5e-324}
	for i, s := range strs {
		for j, f := range floats {
			e := typicalEntry()
			e.Identity, e.Purpose, e.Username, e.Error = s, s, s, s
			e.Tried = []string{s, "x" + s}
			e.LatencyMS = f
			e.Stale = j%2 == 0
			if i%3 == 0 {
				e.Served, e.Place = "", 0
			}
			m := mirror{e.Time.UTC(), e.Identity, e.AuthMethod, e.Purpose, e.Operation, e.Locker, e.Credential, e.Username,
				e.Tried, e.Served, e.Provider, nil, e.Scope, e.Stale, e.Cache, e.Decision, e.Rule, e.Code, e.LatencyMS, e.Error}
			if e.Served != "" {
				m.Place = &e.Place
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(m); err != nil {
				t.Fatal(err)
			}
			got, err := e.appendBody(nil, clock0)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := string(got)+"}", strings.TrimSuffix(want.String(), "\n"); g != w {
				t.Errorf("string %q, float %v:\n got %s\nwant %s", s, f, g, w)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "\u2028", "\xff", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendString(nil, s)) + "\n"; got != want.String() {
			t.Errorf("appendString(%q) = %s, encoding/json %s", s, got, want.String())
		}
	})
}

func TestEntryRoundTrip(t *testing.T) {
	e := typicalEntry()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got Entry
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || got.Identity != e.Identity || got.Place != 1 || len(got.Tried) != 2 || got.LatencyMS != 1.25 {
		t.Errorf("round trip: %+v", got)
	}
}

func TestNonFiniteLatencyRefused(t *testing.T) {
	var buf bytes.Buffer
	l, err := Open(Options{Path: "-", Writer: &buf, Now: fixedClock(clock0)})
	if err != nil {
		t.Fatal(err)
	}
	before := buf.Len()
	e := typicalEntry()
	e.LatencyMS = math.NaN()
	if err := l.Write(e); err == nil {
		t.Error("Write accepted a NaN latency")
	}
	if buf.Len() != before {
		t.Error("a refused entry was written")
	}
	if seq, _ := l.Head(); seq != 0 {
		t.Errorf("seq %d after a refused entry, want 0", seq)
	}
	if _, err := json.Marshal(e); err == nil {
		t.Error("MarshalJSON accepted a NaN latency")
	}
}
