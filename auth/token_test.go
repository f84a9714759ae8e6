package auth

import (
	"strings"
	"testing"
)

func TestHashToken(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != want {
		t.Fatalf("HashToken(abc) = %s, want %s", got, want)
	}
}

func TestTokenSetLookup(t *testing.T) {
	ts, err := NewTokenSet([]Token{
		{Identity: "bot-pool-a", SHA256: "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, // "abc"
		{Identity: "control-room", SHA256: HashToken("cr-token-1")},
		// Upper-case hex is the same hash; a second token for one identity
		// (rotation) is allowed.
		{Identity: "control-room", SHA256: "sha256:" + strings.ToUpper(strings.TrimPrefix(HashToken("cr-token-2"), "sha256:"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Len() != 3 {
		t.Fatalf("Len = %d, want 3", ts.Len())
	}
	for _, tc := range []struct {
		token, wantID string
		wantOK        bool
	}{
		{"abc", "bot-pool-a", true},
		{"cr-token-1", "control-room", true},
		{"cr-token-2", "control-room", true},
		{"abd", "", false},
		{"", "", false},
		{"abc ", "", false},
		// The stored hash is not a credential: presenting it is hashed
		// again and matches nothing.
		{"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "", false},
		{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "", false},
	} {
		p, ok := ts.Lookup(tc.token)
		if ok != tc.wantOK || p.ID != tc.wantID {
			t.Errorf("Lookup(%q) = %v, %v; want %q, %v", tc.token, p, ok, tc.wantID, tc.wantOK)
		}
		if ok && (p.Method != MethodToken || len(p.Aliases) != 0) {
			t.Errorf("Lookup(%q) = %+v, want Method token and no aliases", tc.token, p)
		}
	}
}

func TestTokenSetNilAndEmpty(t *testing.T) {
	var nilSet *TokenSet
	if _, ok := nilSet.Lookup("abc"); ok {
		t.Error("nil TokenSet knows a token")
	}
	if nilSet.Len() != 0 {
		t.Error("nil TokenSet has a length")
	}
	empty, err := NewTokenSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.Lookup("abc"); ok {
		t.Error("empty TokenSet knows a token")
	}
}

func TestNewTokenSetErrors(t *testing.T) {
	const plain = "pasted-plain-token-Zq9"
	_, err := NewTokenSet([]Token{
		{Identity: "ok", SHA256: HashToken("one")},
		{Identity: "", SHA256: HashToken("two")},                           // empty identity
		{Identity: "plain", SHA256: plain},                                 // no prefix: a token pasted by mistake
		{Identity: "short", SHA256: "sha256:abcd"},                         // wrong length
		{Identity: "nothex", SHA256: "sha256:" + strings.Repeat("zz", 32)}, // not hex
		{Identity: "dup", SHA256: HashToken("one")},                        // same hash as tokens[0]
		{Identity: "  ", SHA256: HashToken("three")},                       // blank identity
	})
	if err == nil {
		t.Fatal("NewTokenSet accepted bad entries")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v does not list its problems", err)
	}
	if n := len(joined.Unwrap()); n != 6 {
		t.Errorf("got %d problems, want 6:\n%v", n, err)
	}
	msg := err.Error()
	for _, want := range []string{"tokens[1]: identity is empty", "tokens[2] (plain)", "tokens[3] (short)", "tokens[4] (nothex)", "tokens[5] (dup): same hash as tokens[0]", "tokens[6]: identity is empty"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, plain) {
		t.Errorf("error quotes the misplaced token:\n%s", msg)
	}
}
