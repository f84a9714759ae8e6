package naming

import (
	"errors"
	"strings"
	"testing"
)

func TestAutoLoginFormats(t *testing.T) {
	aws := mustScheme(t, AWS, Options{})
	azure := mustScheme(t, Azure, Options{})
	vault := mustScheme(t, HashiCorp, Options{Allowed: "^[A-Za-z0-9/_+=.@-]+$"})
	tests := []struct {
		format   string
		s        *Scheme
		username string
		want     string // "" = a *RuleError
	}{
		{"", aws, `ABCD\user123`, "autologin_ABCD--user123"},
		{DefaultAutoLoginFormat, azure, `ABCD\user123`, "autologin-5f-ABCD--user123"},
		{"{username}-login", aws, "john", "john-2d-login"},
		{"{username}-login", azure, "john", "john-2d-login"},
		{"rpa/{username}", aws, "john", "rpa-2f-john"},       // the whole logical name is encoded
		{"rpa/{username}", vault, "john", ""},                // '/' passes raw: not a last path element
		{"al_{username}_w", aws, "josé", "al_jos-c3--a9-_w"}, // literal text around the username
		{"{username}", aws, strings.Repeat("a", 256), strings.Repeat("a", 256)},
		{"{username}", azure, strings.Repeat("a", 128), ""}, // over Azure's 127
	}
	for _, tt := range tests {
		a, err := NewAutoLogin(tt.format, nil)
		if err != nil {
			t.Errorf("NewAutoLogin(%q): %v", tt.format, err)
			continue
		}
		got, mapped, err := a.Name(tt.s, tt.username)
		if mapped {
			t.Errorf("mapped without a mapping")
		}
		if tt.want == "" {
			var re *RuleError
			if !errors.As(err, &re) || got != "" {
				t.Errorf("%q on %s: Name = %q, %v; want a RuleError", tt.format, tt.s, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q on %s: Name(%q) = %q, %v; want %q", tt.format, tt.s, tt.username, got, err, tt.want)
		}
	}
}

func TestAutoLoginMapping(t *testing.T) {
	mapping := map[string]string{
		`ABCD\user123`: "svc/robot-01",
		"john":         "Windows_Login_John",
	}
	a, err := NewAutoLogin("", mapping)
	if err != nil {
		t.Fatal(err)
	}
	mapping["john"] = "changed after construction"

	aws := mustScheme(t, AWS, Options{})
	azure := mustScheme(t, Azure, Options{})

	got, mapped, err := a.Name(aws, `ABCD\user123`)
	if err != nil || !mapped || got != "svc/robot-01" {
		t.Errorf("mapped name = %q, %v, %v; want verbatim svc/robot-01", got, mapped, err)
	}
	got, mapped, err = a.Name(aws, "john")
	if err != nil || !mapped || got != "Windows_Login_John" {
		t.Errorf("mapping was not copied: %q, %v, %v", got, mapped, err)
	}
	// Keys match exactly: another case is not mapped.
	got, mapped, err = a.Name(aws, "JOHN")
	if err != nil || mapped || got != "autologin_JOHN" {
		t.Errorf("JOHN: %q, %v, %v", got, mapped, err)
	}
	// A mapped name is not encoded, but is still checked.
	_, mapped, err = a.Name(azure, `ABCD\user123`)
	var re *RuleError
	if !errors.As(err, &re) || !mapped || re.Encoded != "svc/robot-01" {
		t.Errorf("azure mapped: mapped=%v err=%v, want a RuleError", mapped, err)
	}

	if l, m := a.Logical("john"); l != "Windows_Login_John" || !m {
		t.Errorf("Logical(john) = %q, %v", l, m)
	}
	if l, m := a.Logical("eve"); l != "autologin_eve" || m {
		t.Errorf("Logical(eve) = %q, %v", l, m)
	}
	if a.Format() != DefaultAutoLoginFormat {
		t.Errorf("Format() = %q", a.Format())
	}

	// Bad usernames are rejected before the mapping is consulted.
	for _, u := range []string{"", "a\nb", strings.Repeat("u", 257)} {
		if _, _, err := a.Name(aws, u); !errors.Is(err, ErrInvalid) {
			t.Errorf("Name(%q) err = %v, want ErrInvalid", u, err)
		}
	}
}

func TestAutoLoginZeroValue(t *testing.T) {
	aws := mustScheme(t, AWS, Options{})
	for _, a := range []*AutoLogin{nil, {}} {
		got, mapped, err := a.Name(aws, "john")
		if err != nil || mapped || got != "autologin_john" {
			t.Errorf("zero AutoLogin: %q, %v, %v", got, mapped, err)
		}
		if a.Format() != DefaultAutoLoginFormat {
			t.Errorf("zero AutoLogin Format() = %q", a.Format())
		}
	}
}

func TestNewAutoLoginErrors(t *testing.T) {
	tests := []struct {
		format  string
		mapping map[string]string
		want    string
	}{
		{"autologin", nil, "exactly once"},
		{"{username}{username}", nil, "2 times"},
		{"{Username}", nil, "0 times"},
		{"{user}_{username}", nil, "braces"},
		{"{username}_}", nil, "offset 11"},
		{"a\nb{username}", nil, "control character"},
		{"\xff{username}", nil, "not valid UTF-8"},
		{"", map[string]string{"": "x"}, "username in the auto-login mapping is empty"},
		{"", map[string]string{"a\tb": "x"}, "username in the auto-login mapping"},
		{"", map[string]string{"john": ""}, `mapped for user "john" is empty`},
		{"", map[string]string{"john": "a\x00"}, "control character"},
	}
	for _, tt := range tests {
		_, err := NewAutoLogin(tt.format, tt.mapping)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NewAutoLogin(%q, %q) = %v, want ErrInvalid", tt.format, tt.mapping, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewAutoLogin(%q, %q) = %q, lacks %q", tt.format, tt.mapping, err, tt.want)
		}
	}
}
