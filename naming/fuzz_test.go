package naming

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSchemes are the schemes FuzzEncode exercises: the default scheme of
// every kind, a reversible regex override, and two ambiguous schemes.
func fuzzSchemes(tb testing.TB) []*Scheme {
	var ss []*Scheme
	for _, k := range Kinds() {
		ss = append(ss, mustScheme(tb, k, Options{}))
	}
	return append(ss,
		mustScheme(tb, HashiCorp, Options{Allowed: `^[a-z.\p{Greek}]+$`}),
		mustScheme(tb, HashiCorp, Options{Allowed: "^[A-Za-z0-9/_+=.@-]+$"}),
		mustScheme(tb, CyberArk, Options{None: true}),
	)
}

// wellFormed reports why enc is not a well-formed output of s, or "". Every
// '-' must start a token ("--" or "-hh-", lowercase hex) and every other
// character must pass raw. For an ambiguous scheme a '-' may also be raw, so
// only the character classes are checked.
func wellFormed(s *Scheme, enc string) string {
	isLowerHex := func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
	for i := 0; i < len(enc); {
		if enc[i] == '-' && !s.Ambiguous() {
			switch {
			case i+1 < len(enc) && enc[i+1] == '-':
				i += 2
			case i+3 < len(enc) && isLowerHex(enc[i+1]) && isLowerHex(enc[i+2]) && enc[i+3] == '-':
				i += 4
			default:
				return fmt.Sprintf("bad token at offset %d", i)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(enc[i:])
		if r == utf8.RuneError && size == 1 {
			return "raw invalid UTF-8"
		}
		if !s.Raw(r) && !(s.Ambiguous() && (r == '-' || isLowerHex(byte(r)) && r < utf8.RuneSelf)) {
			return fmt.Sprintf("character %q does not pass raw", r)
		}
		i += size
	}
	return ""
}

func FuzzEncode(f *testing.F) {
	for i, v := range loadVectors(f) {
		f.Add(uint8(i), v.Username, v.Expected)
		f.Add(uint8(i), UserName(v.Prefix, v.Credential, v.Username), v.Credential)
	}
	for i, s := range []string{"", "é", "中文", "👍", " ", "..", "/", "-", "_", `\`, `\-`, "-2d-", "--", "a\xffb", "\xc3", "\xe2\x82", "ǅ", "αβγ"} {
		f.Add(uint8(i), s, s+"x")
		f.Add(uint8(i), s, strings.ToUpper(s))
	}
	schemes := fuzzSchemes(f)

	f.Fuzz(func(t *testing.T, k uint8, a, b string) {
		s := schemes[int(k)%len(schemes)]
		ea, eb := s.Encode(a), s.Encode(b)
		for _, p := range [][2]string{{a, ea}, {b, eb}} {
			if why := wellFormed(s, p[1]); why != "" {
				t.Fatalf("%s: Encode(%q) = %q: %s", s, p[0], p[1], why)
			}
		}
		if s.Ambiguous() {
			// Decode must not panic; without '-' it is exact.
			if d, err := s.Decode(ea); err == nil && s.Encode(d) != ea {
				t.Fatalf("%s: Decode(%q) = %q does not encode back", s, ea, d)
			}
			if d, err := s.Decode(a); err == nil && s.Encode(d) != a {
				t.Fatalf("%s: Decode(%q) = %q does not encode back", s, a, d)
			}
			return
		}
		// Reversible: decode(encode(x)) == x.
		if d, err := s.Decode(ea); err != nil || d != a {
			t.Fatalf("%s: Decode(Encode(%q) = %q) = %q, %v", s, a, ea, d, err)
		}
		// Injective.
		if a != b && ea == eb {
			t.Fatalf("%s: Encode(%q) == Encode(%q) == %q", s, a, b, ea)
		}
		// Decode accepts only the canonical form.
		if d, err := s.Decode(b); err == nil && s.Encode(d) != b {
			t.Fatalf("%s: Decode(%q) = %q, which encodes as %q", s, b, d, s.Encode(d))
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	short := `autologin_ABCD\user123`
	long := strings.Repeat(`ab.CD\é_`, 32) // 256 characters, many substituted
	plain := strings.Repeat("abcdEFGH", 32)
	for _, kind := range []string{AWS, Azure} {
		s := mustScheme(b, kind, Options{})
		for _, c := range []struct{ name, in string }{{"short", short}, {"256mixed", long}, {"256raw", plain}} {
			b.Run(kind+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(c.in)))
				for b.Loop() {
					_ = s.Encode(c.in)
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	s := mustScheme(b, AWS, Options{})
	enc := s.Encode(strings.Repeat(`ab.CD\é_`, 32))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
