package naming

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vector is one row of testdata/naming-vectors.json.
type vector struct {
	Source     string `json:"source"`
	Provider   string `json:"provider"`
	Encoding   string `json:"encoding"`
	Allowed    string `json:"allowed"`
	Kind       string `json:"kind"`
	Prefix     string `json:"prefix"`
	Safe       string `json:"safe"`
	Credential string `json:"credential"`
	Username   string `json:"username"`
	Expected   string `json:"expected"`
}

// loadVectors reads the project's copy of the shared naming vectors.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "naming-vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors")
	}
	return vs
}

// scheme builds the scheme of a vector row.
func (v vector) scheme(tb testing.TB) *Scheme {
	tb.Helper()
	opt := Options{Allowed: v.Allowed}
	switch v.Encoding {
	case "":
	case "none":
		opt.None = true
	default:
		tb.Fatalf("%s: unknown encoding %q", v.Source, v.Encoding)
	}
	s, err := NewScheme(v.Provider, opt)
	if err != nil {
		tb.Fatalf("%s: %v", v.Source, err)
	}
	return s
}

// logical builds the logical name of a vector row.
func (v vector) logical(tb testing.TB) string {
	tb.Helper()
	prefix := v.Prefix
	if v.Provider == CyberArk {
		prefix = "" // the locker is a Safe
	}
	switch v.Kind {
	case "system":
		return SystemName(prefix, v.Credential)
	case "user":
		return UserName(prefix, v.Credential, v.Username)
	case "autologin":
		l, mapped := (&AutoLogin{}).Logical(v.Username)
		if mapped {
			tb.Fatalf("%s: zero AutoLogin mapped %q", v.Source, v.Username)
		}
		return l
	}
	tb.Fatalf("%s: unknown kind %q", v.Source, v.Kind)
	return ""
}

func TestVectors(t *testing.T) {
	rejected := 0
	for _, v := range loadVectors(t) {
		t.Run(v.Source+"/"+v.Provider, func(t *testing.T) {
			s := v.scheme(t)
			logical := v.logical(t)

			if got := s.Encode(logical); got != v.Expected {
				t.Fatalf("Encode(%q) under %s = %q, want %q", logical, s, got, v.Expected)
			}

			var got string
			var err error
			if v.Kind == "autologin" {
				al, aerr := NewAutoLogin("", nil)
				if aerr != nil {
					t.Fatal(aerr)
				}
				var mapped bool
				got, mapped, err = al.Name(s, v.Username)
				if mapped {
					t.Errorf("mapped = true without a mapping")
				}
			} else {
				got, err = s.Name(logical)
			}

			if err != nil {
				// The contract: a name the provider cannot hold is an error,
				// never silent. Only the CyberArk "encoding: none" row with a
				// backslash is expected here.
				var re *RuleError
				if !errors.As(err, &re) {
					t.Fatalf("Name: %v is not a *RuleError", err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("RuleError does not wrap ErrInvalid")
				}
				if v.Provider != CyberArk || !strings.Contains(v.Expected, `\`) {
					t.Fatalf("unexpected rejection: %v", err)
				}
				if !strings.Contains(re.Rule, "may not contain") || !strings.Contains(re.Rule, `'\\'`) {
					t.Errorf("Rule = %q, want the CyberArk forbidden-character rule naming '\\'", re.Rule)
				}
				if re.Provider != CyberArk || re.Logical != logical || re.Encoded != v.Expected {
					t.Errorf("RuleError fields = %+v", re)
				}
				for _, want := range []string{"cyberark", "autologin_ABCD", "may not contain"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Error() = %q lacks %q", err, want)
					}
				}
				if cerr := s.Check(logical, s.Encode(logical)); cerr == nil {
					t.Errorf("Check accepted what Name rejected")
				}
				rejected++
			} else if got != v.Expected {
				t.Fatalf("Name = %q, want %q", got, v.Expected)
			}

			if v.Provider == CyberArk && v.Safe != "" {
				if err := CheckSafe(v.Safe); err != nil {
					t.Errorf("CheckSafe(%q): %v", v.Safe, err)
				}
			}

			dec, err := s.Decode(v.Expected)
			switch {
			case !s.Ambiguous():
				if err != nil || dec != logical {
					t.Errorf("Decode(%q) = %q, %v; want %q", v.Expected, dec, err, logical)
				}
			case strings.Contains(v.Expected, "-"):
				if !errors.Is(err, ErrAmbiguous) || !errors.Is(err, ErrInvalid) {
					t.Errorf("Decode(%q) on ambiguous %s: err = %v, want ErrAmbiguous", v.Expected, s, err)
				}
			default:
				if err != nil || dec != logical {
					t.Errorf("Decode(%q) = %q, %v; want %q", v.Expected, dec, err, logical)
				}
			}
		})
	}
	if rejected != 1 {
		t.Errorf("%d vector rows rejected by Check, want exactly 1 (CyberArk autologin_ABCD\\user123)", rejected)
	}
}
