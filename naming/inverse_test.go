package naming

import (
	"strings"
	"testing"
)

func TestAutoLoginUsernameInvertsLogical(t *testing.T) {
	// Mapped names chosen so that no format below also gives them to an
	// unmapped user (that would be ambiguous, see the next tests).
	mapping := map[string]string{`ABCD\svc`: "svc_logon", "john": "Windows_Login_John"}
	users := []string{"john", "JOHN", `ABCD\user123`, `ABCD\svc`, "user123@rpa.abcd.com", "josé", "a", "_", "autologin_x",
		"{username}", strings.Repeat("ü", MaxUsername)}
	for _, format := range []string{"", DefaultAutoLoginFormat, "{username}-login", "rpa/{username}", "al_{username}_w", "{username}"} {
		for _, m := range []map[string]string{nil, mapping} {
			if format == "{username}" && m != nil {
				continue // every mapped name is also some unmapped user's name
			}
			a, err := NewAutoLogin(format, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				logical, _ := a.Logical(u)
				got, ok := a.Username(logical)
				if !ok || got != u {
					t.Errorf("format %q, mapping %v: Username(Logical(%q) = %q) = %q, %v", format, m != nil, u, logical, got, ok)
				}
			}
		}
	}
}

func TestAutoLoginUsernameLiterals(t *testing.T) {
	a, err := NewAutoLogin("", map[string]string{`ABCD\svc`: "svc-login", "john": "Windows_Login_John"})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := NewAutoLogin("al_{username}_w", nil)
	if err != nil {
		t.Fatal(err)
	}
	var zero AutoLogin
	var nilAL *AutoLogin
	tests := []struct {
		a       *AutoLogin
		logical string
		want    string // "" = not ok
	}{
		{a, `autologin_ABCD\user123`, `ABCD\user123`},
		{a, "svc-login", `ABCD\svc`},
		{a, "Windows_Login_John", "john"},
		{a, "autologin_john", ""},         // john is mapped: his name is Windows_Login_John
		{a, `autologin_ABCD\svc`, ""},     // mapped as well
		{a, "autologin_", ""},             // no username
		{a, "Autologin_john", ""},         // case matters
		{a, "autologin_a\x07b", ""},       // not a valid username
		{a, "glaccess_ABCD\\user123", ""}, // not an auto-login name
		{a, "autologin_" + strings.Repeat("u", MaxUsername+1), ""},
		{custom, "al_josé_w", "josé"},
		{custom, "al__w", ""},
		{custom, "al_w", ""},
		{custom, "al_x", ""},
		{&zero, "autologin_x", "x"},
		{nilAL, "autologin_x", "x"},
		{nilAL, "x", ""},
	}
	for _, tt := range tests {
		got, ok := tt.a.Username(tt.logical)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("Username(%q) = %q, %v; want %q", tt.logical, got, ok, tt.want)
		}
	}
}

func TestAutoLoginUsernameAmbiguous(t *testing.T) {
	// Two users mapped to one secret, and a mapped name that is also the
	// format's name for an unmapped user: the caller cannot be told apart.
	a, err := NewAutoLogin("", map[string]string{"ann": "shared", "bob": "shared", "carl": "autologin_dora"})
	if err != nil {
		t.Fatal(err)
	}
	for _, logical := range []string{"shared", "autologin_dora"} {
		if got, ok := a.Username(logical); ok {
			t.Errorf("Username(%q) = %q; want no answer for a name several users reach", logical, got)
		}
	}
	// With the format {username}, a mapped name is also the name of the
	// unmapped user spelled like it.
	b, err := NewAutoLogin("{username}", map[string]string{"john": "svc_logon"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Username("svc_logon"); ok {
		t.Errorf("Username(svc_logon) = %q; want no answer", got)
	}
	if got, ok := b.Username("mary"); !ok || got != "mary" {
		t.Errorf("Username(mary) = %q, %v", got, ok)
	}
}
