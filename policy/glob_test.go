package policy

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/secretbroker/secretbroker/auth"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"finance", "finance", true},
		{"finance", "Finance", false},
		{"finance", "finance2", false},
		{"finance", "", false},
		{"*", "", true},
		{"*", "anything/at all", true},
		{"**", "x", true},
		{"hr-*", "hr-", true},
		{"hr-*", "hr-payroll", true},
		{"hr-*", "hr", false},
		{"hr-*", "xhr-payroll", false},
		{`ABCD\bot-*`, `ABCD\bot-7`, true},
		{`ABCD\bot-*`, `ABCD\bot-`, true},
		{`ABCD\bot-*`, `ABCD\user123`, false},
		{`ABCD\bot-*`, `ABCDbot-7`, false},
		{`ABCD\bot-*`, `abcd\bot-7`, false},
		{`ABCD\*`, `ABCD\x`, true},
		{`ABCD\*`, `ABCD*`, false},
		{`*\bot-?`, `EFGH\bot-1`, true},
		{`*\bot-?`, `EFGH\bot-12`, false},
		{"?", "é", true},
		{"?", "€", true},
		{"??", "€", false},
		{"*??", "€", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"spiffe://corp.example/rpa/*", "spiffe://corp.example/rpa/a/b", true},
		{"spiffe://*/rpa/bot", "spiffe://corp.example/rpa/bot", true},
		{"spiffe://*/rpa/bot", "spiffe://corp.example/rpa/bot2", false},
		{"*-*-*", "a-b-c", true},
		{"*-*-*", "a-b", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"*x", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxy", false},
		{"[a]", "[a]", true},
		{"[a]", "a", false},
	}
	for _, tt := range tests {
		g := compileGlob(tt.pattern)
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
		if got := matchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestCompileGlobKinds(t *testing.T) {
	tests := []struct {
		pattern string
		want    glob
	}{
		{"finance", glob{kind: globLiteral, text: "finance"}},
		{`ABCD\x`, glob{kind: globLiteral, text: `ABCD\x`}},
		{"*", glob{kind: globAny}},
		{"***", glob{kind: globAny}},
		{"hr-*", glob{kind: globPrefix, text: "hr-"}},
		{"hr-**", glob{kind: globPrefix, text: "hr-"}},
		{"*-hr", glob{kind: globGeneral, text: "*-hr"}},
		{"h?-*", glob{kind: globGeneral, text: "h?-*"}},
	}
	for _, tt := range tests {
		if got := compileGlob(tt.pattern); got != tt.want {
			t.Errorf("compileGlob(%q) = %+v, want %+v", tt.pattern, got, tt.want)
		}
	}
}

// reference compiles pattern into the regular expression it stands for:
// '*' is any run of characters, '?' one character, the rest literal.
func reference(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{`ABCD\bot-*`, `ABCD\bot-7`},
		{"*??", "€"},
		{"a*b*c", "aXbYbZc"},
		{"*", ""},
		{"?", "\xff"},
		{"hr-*", "hr-payroll"},
		{"spiffe://*/rpa/*", "spiffe://corp.example/rpa/x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := compileGlob(pattern).match(s)
		if general := matchGlob(pattern, s); general != got {
			t.Fatalf("compiled match(%q, %q) = %v, general = %v", pattern, s, got, general)
		}
		// Every pattern matches itself ('*' and '?' match themselves too).
		if !compileGlob(pattern).match(pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
		if !matchGlob("*", s) {
			t.Fatalf(`"*" does not match %q`, s)
		}
		if !strings.ContainsAny(pattern, "*?") && got != (pattern == s) {
			t.Fatalf("literal %q matched %q: %v", pattern, s, got)
		}
		// Configurations hold valid UTF-8 only (checkGlob). In an invalid
		// pattern a stray byte is a character of its own, which the bytes
		// of s around it may complete into another one, so these hold only
		// for valid patterns.
		if utf8.ValidString(pattern) {
			// '*' semantics: the pattern a*b matches a+anything+b.
			if !matchGlob(pattern+"*"+pattern, pattern+s+pattern) {
				t.Fatalf("%q does not match %q", pattern+"*"+pattern, pattern+s+pattern)
			}
			if want := reference(pattern).MatchString(s); got != want {
				t.Fatalf("match(%q, %q) = %v, reference = %v", pattern, s, got, want)
			}
		}
	})
}

// FuzzNew checks that New never panics, and that a policy it accepts
// decides without panicking and allows what its single client grants.
func FuzzNew(f *testing.F) {
	f.Add("bot", "spiffe://corp.example/rpa/*", "credential", "hr-*", `ABCD\bot-*`, 1.0, 1,
		"spiffe://corp.example/rpa/bot", "hr-x", `ABCD\bot-1`)
	f.Add("", "", "fetch", "", "", 0.0, 0, "", "", "")
	f.Fuzz(func(t *testing.T, name, identity, op, locker, username string, rps float64, burst int,
		id, reqLocker, reqUser string) {
		cfg := Config{Clients: []Client{{
			Name: name, Identities: []string{identity}, Operations: []string{op},
			Lockers: []string{locker}, Usernames: []string{username},
			RateLimit: &RateLimit{RPS: rps, Burst: burst},
		}}}
		p, err := New(cfg)
		if err != nil {
			return
		}
		o, _ := auth.ParseOperation(op)
		d := p.Authorize(context.Background(), auth.Principal{ID: id}, auth.Action{Op: o, Locker: reqLocker, Username: reqUser})
		p.Visible(auth.Principal{ID: id}, reqLocker)
		if d.Allowed && (!matchGlob(identity, id) || id == "") {
			t.Fatalf("allowed %q by identity %q", id, identity)
		}
	})
}
