package naming

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTemplateExecute(t *testing.T) {
	secret := map[string]string{
		"Domain":   "ABCD",
		"UserName": "user123",
		"password": "s3cr3t-value",
		"Address":  "rpa.abcd.com",
	}
	tests := []struct {
		tmpl   string
		want   string
		fields []string
	}{
		{`$domain$\$username$`, `ABCD\user123`, []string{"domain", "username"}},
		{`$USERNAME$@$address$`, "user123@rpa.abcd.com", []string{"USERNAME", "address"}},
		{"$UserName$", "user123", []string{"UserName"}},
		{"cost $$5 for $username$", "cost $5 for user123", []string{"username"}},
		{"$$", "$", nil},
		{"$$$$", "$$", nil},
		{"$$$domain$$$", "$ABCD$", []string{"domain"}},
		{"$domain$$username$", "ABCDuser123", []string{"domain", "username"}},
		{"$username$-$Username$", "user123-user123", []string{"username"}},
		{"literal", "literal", nil},
	}
	for _, tt := range tests {
		tmpl, err := ParseTemplate(tt.tmpl)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tt.tmpl, err)
			continue
		}
		if tmpl.String() != tt.tmpl {
			t.Errorf("String() = %q, want %q", tmpl.String(), tt.tmpl)
		}
		if got := tmpl.Fields(); !slices.Equal(got, tt.fields) {
			t.Errorf("%q: Fields() = %q, want %q", tt.tmpl, got, tt.fields)
		}
		got, err := tmpl.Execute(secret)
		if err != nil || got != tt.want {
			t.Errorf("%q: Execute = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}

	// An exact key wins over keys that differ only in case.
	tmpl, _ := ParseTemplate("$user$")
	got, err := tmpl.Execute(map[string]string{"user": "exact", "USER": "other"})
	if err != nil || got != "exact" {
		t.Errorf("exact match: %q, %v", got, err)
	}
}

func TestTemplateExecuteErrors(t *testing.T) {
	const value = "TOP-SECRET-VALUE"
	tmpl, err := ParseTemplate(`$domain$\$username$`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		attrs map[string]string
		want  []string
	}{
		{map[string]string{"username": value, "password": value}, []string{`no field "domain"`, `"password", "username"`}},
		{map[string]string{}, []string{`no field "domain"`, "none"}},
		{nil, []string{`no field "domain"`}},
		{map[string]string{"domain": value, "Username": value, "USERNAME": value}, []string{`field "username" is ambiguous`, `"USERNAME", "Username"`}},
	}
	for _, tt := range tests {
		got, err := tmpl.Execute(tt.attrs)
		if err == nil {
			t.Errorf("Execute(%v) = %q, want error", tt.attrs, got)
			continue
		}
		if !errors.Is(err, ErrMissingField) || errors.Is(err, ErrInvalid) {
			t.Errorf("Execute: %v: want ErrMissingField and not ErrInvalid", err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Execute error %q lacks %q", err, w)
			}
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("Execute error %q leaks an attribute value", err)
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		tmpl, want string
	}{
		{"", "empty"},
		{"$domain", "offset 0 is not closed"},
		{`$domain$\$username`, "offset 9 is not closed"},
		{"$$$", "offset 2 is not closed"},
		{"$user name$", `contains ' '`},
		{`$domain\$`, `contains '\\'`},
		{"$a/b$", `contains '/'`},
		{"$\xff$", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParseTemplate(tt.tmpl)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTemplate(%q) = %v, want ErrInvalid", tt.tmpl, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTemplate(%q) = %q, lacks %q", tt.tmpl, err, tt.want)
		}
	}
}
