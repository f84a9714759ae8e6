package broker

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRequestValidate: validation never panics, accepts nothing over the
// limits or with invalid UTF-8, and its message stays short and on one line
// whatever the input.
func FuzzRequestValidate(f *testing.F) {
	f.Add("finance", "erp", `ABCD\user123`, "password")
	f.Add(strings.Repeat("L", 300), "", "", "")
	f.Add("a\x00b", "c\xff", "\u2028", "")
	f.Fuzz(func(t *testing.T, locker, credential, username, attr string) {
		req := Request{Locker: locker, Credential: credential, Username: username, Attributes: []string{attr}}
		err := req.validate("credential")
		if err == nil {
			for _, v := range []string{locker, credential, username, attr} {
				if !utf8.ValidString(v) {
					t.Fatalf("accepted invalid UTF-8 %q", v)
				}
			}
			if len(locker) > MaxLocker || len(credential) > MaxCredential || len(username) > MaxUsername || attr == "" {
				t.Fatalf("accepted a request over the limits: %d %d %d %q", len(locker), len(credential), len(username), attr)
			}
			return
		}
		msg := err.Error()
		if len(msg) > 300 || strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("message of %d bytes or several lines: %.100q", len(msg), msg)
		}
	})
}

// BenchmarkRequestValidate measures the checks every request goes through
// first.
func BenchmarkRequestValidate(b *testing.B) {
	req := Request{Locker: "finance", Credential: "erp", Username: `ABCD\user123`, Attributes: []string{"password"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := req.validate("credential"); err != nil {
			b.Fatal(err)
		}
	}
}
