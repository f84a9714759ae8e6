package naming

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// mustScheme builds a scheme or fails the test.
func mustScheme(tb testing.TB, kind string, opt Options) *Scheme {
	tb.Helper()
	s, err := NewScheme(kind, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestKinds(t *testing.T) {
	want := []string{"aws", "azure", "hashicorp", "cyberark", "embedded"}
	if got := Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %q, want %q", got, want)
	}
	Kinds()[0] = "mutated"
	if Kinds()[0] != AWS {
		t.Fatal("Kinds returned shared storage")
	}
	for _, k := range want {
		s := mustScheme(t, k, Options{})
		if s.Kind() != k {
			t.Errorf("Kind() = %q, want %q", s.Kind(), k)
		}
		if s.Ambiguous() {
			t.Errorf("default %s scheme is ambiguous", k)
		}
		if got, want := s.CaseInsensitive(), k == Azure || k == CyberArk; got != want {
			t.Errorf("%s: CaseInsensitive() = %v", k, got)
		}
	}
}

func TestNewSchemeErrors(t *testing.T) {
	tests := []struct {
		kind string
		opt  Options
		want string // substring of the error
	}{
		{"gcp", Options{}, "use one of aws, azure, hashicorp, cyberark, embedded"},
		{"AWS", Options{}, "unknown provider kind"},
		{"", Options{}, "unknown provider kind"},
		{"aws", Options{Allowed: "^[a-z+$"}, "does not compile"},
		{"aws", Options{Allowed: "^[a-z]+$", None: true}, "not both"},
	}
	for _, tt := range tests {
		s, err := NewScheme(tt.kind, tt.opt)
		if err == nil {
			t.Errorf("NewScheme(%q, %+v) = %v, want error", tt.kind, tt.opt, s)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NewScheme(%q, %+v): %v does not wrap ErrInvalid", tt.kind, tt.opt, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewScheme(%q, %+v): %q lacks %q", tt.kind, tt.opt, err, tt.want)
		}
	}
	_, err := NewScheme("aws", Options{Allowed: "("})
	var syn *syntax.Error
	if !errors.As(err, &syn) {
		t.Errorf("regexp error not wrapped: %v", err)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		kind string
		opt  Options
		want string
	}{
		{AWS, Options{}, "aws (default raw set A-Z a-z 0-9 _ + =)"},
		{Azure, Options{}, "azure (default raw set A-Z a-z 0-9)"},
		{HashiCorp, Options{}, "hashicorp (default raw set A-Z a-z 0-9 + =)"},
		{CyberArk, Options{}, "cyberark (default raw set A-Z a-z 0-9 _ + =)"},
		{Embedded, Options{}, "embedded (default raw set A-Z a-z 0-9 _ + =)"},
		{HashiCorp, Options{Allowed: "^[A-Za-z0-9/_+=.@-]+$"}, "hashicorp (raw: ^[A-Za-z0-9/_+=.@-]+$)"},
		{CyberArk, Options{None: true}, "cyberark (encoding: none)"},
	}
	for _, tt := range tests {
		if got := mustScheme(t, tt.kind, tt.opt).String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestRawSets(t *testing.T) {
	tests := []struct {
		kind string
		raw  string // printable ASCII that passes raw, besides alphanumerics
	}{
		{AWS, "_+="},
		{Azure, ""},
		{HashiCorp, "+="},
		{CyberArk, "_+="},
		{Embedded, "_+="},
	}
	for _, tt := range tests {
		s := mustScheme(t, tt.kind, Options{})
		for r := rune(0); r < 0x300; r++ {
			want := r < 0x80 && (isAlnum(r) || strings.ContainsRune(tt.raw, r))
			if got := s.Raw(r); got != want {
				t.Errorf("%s: Raw(%q) = %v, want %v", tt.kind, r, got, want)
			}
		}
		for _, r := range []rune{-1, 0xD800, utf8.MaxRune + 1} {
			if s.Raw(r) {
				t.Errorf("%s: Raw(%#x) = true for an invalid code point", tt.kind, r)
			}
		}
	}
}

func TestOverrideAndNone(t *testing.T) {
	seed := mustScheme(t, HashiCorp, Options{Allowed: "^[A-Za-z0-9/_+=.@-]+$"})
	if !seed.Ambiguous() {
		t.Error("seed regex admits '-' but Ambiguous() = false")
	}
	for _, r := range "/_+=.@-aZ9" {
		if !seed.Raw(r) {
			t.Errorf("seed regex: Raw(%q) = false", r)
		}
	}
	if got := seed.Encode(`a/b.c@d-e_f a\b`); got != `a/b.c@d-e_f-20-a--b` {
		t.Errorf("seed regex Encode = %q", got)
	}

	none := mustScheme(t, CyberArk, Options{None: true})
	if !none.Ambiguous() {
		t.Error("encoding none: Ambiguous() = false")
	}
	for _, in := range []string{`ABCD\user123`, "é 👍 中文 -_./", "a--b-2d-"} {
		if got := none.Encode(in); got != in {
			t.Errorf("none: Encode(%q) = %q", in, got)
		}
	}
	if got := none.Encode("a\xffb"); got != "a-ff-b" {
		t.Errorf("none: invalid UTF-8 byte: Encode = %q, want a-ff-b", got)
	}
	if got, err := none.Decode(`ABCD\user123`); err != nil || got != `ABCD\user123` {
		t.Errorf("none: Decode without '-' = %q, %v", got, err)
	}
	if _, err := none.Decode("a-2d-b"); !errors.Is(err, ErrAmbiguous) || !errors.Is(err, ErrInvalid) {
		t.Errorf("none: Decode with '-' err = %v, want ErrAmbiguous", err)
	}

	// A regex without '-' keeps the encoding reversible.
	lower := mustScheme(t, Azure, Options{Allowed: `^[a-z.]+$`})
	if lower.Ambiguous() {
		t.Error("regex without '-' is ambiguous")
	}
	if got := lower.Encode("Ab.c-"); got != "-41-b.c-2d-" {
		t.Errorf("lower: Encode = %q", got)
	}
	if got, err := lower.Decode("-41-b.c-2d-"); err != nil || got != "Ab.c-" {
		t.Errorf("lower: Decode = %q, %v", got, err)
	}

	// Unanchored: a character passes when the one-character string matches.
	unanch := mustScheme(t, AWS, Options{Allowed: `[a-c]`})
	if !unanch.Raw('b') || unanch.Raw('d') {
		t.Error("unanchored regex: wrong raw set")
	}

	// Non-ASCII raw characters and a raw backslash.
	uni := mustScheme(t, Embedded, Options{Allowed: `^[\p{L}\\]+$`})
	if got := uni.Encode(`é\中1`); got != `é\中-31-` {
		t.Errorf("unicode regex: Encode = %q", got)
	}
	if got, err := uni.Decode(`é\中-31-`); err != nil || got != `é\中1` {
		t.Errorf("unicode regex: Decode = %q, %v", got, err)
	}
	for _, bad := range []string{"-c3--a9-", "--"} {
		if _, err := uni.Decode(bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "offset 0") {
			t.Errorf("unicode regex: Decode(%q) err = %v, want non-canonical error at offset 0", bad, err)
		}
	}
}

func TestNames(t *testing.T) {
	if got := SystemName("accounting", "pdf"); got != "accounting_pdf" {
		t.Error(got)
	}
	if got := SystemName("", "glaccess"); got != "glaccess" {
		t.Error(got)
	}
	if got := UserName("accounting", "pdf", `ABCD\user123`); got != `accounting_pdf_ABCD\user123` {
		t.Error(got)
	}
	if got := UserName("", "glaccess", "john"); got != "glaccess_john" {
		t.Error(got)
	}
}

// awkward names, encoded under the default schemes. "" in a column means the
// encoding equals the aws one after replacing "_" by "-5f-" (azure and
// hashicorp do not pass '_' raw); cyberark and embedded share aws's raw set.
func TestAwkwardNames(t *testing.T) {
	tests := []struct {
		logical string
		aws     string
	}{
		{"é", "-c3--a9-"},
		{"中文", "-e4--b8--ad--e6--96--87-"},
		{"👍", "-f0--9f--91--8d-"},
		{"a b", "a-20-b"},
		{" ", "-20-"},
		{"..", "-2e--2e-"},
		{".", "-2e-"},
		{"/", "-2f-"},
		{"a/b", "a-2f-b"},
		{"-", "-2d-"},
		{"--", "-2d--2d-"},
		{"_", "_"},
		{`\`, "--"},
		{`\\`, "----"},
		{`-\`, "-2d---"},
		{`\-`, "---2d-"},
		{"+=", "+="},
		{"A-2d-", "A-2d-2d-2d-"},
		{"jos\u00e9", "jos-c3--a9-"},
		{"jose\u0301", "jose-cc--81-"}, // combining accent: not normalised
		{"ǅ", "-c7--85-"},
	}
	for _, tt := range tests {
		for _, kind := range Kinds() {
			s := mustScheme(t, kind, Options{})
			want := tt.aws
			if kind == Azure {
				want = strings.ReplaceAll(want, "_", "-5f-")
				want = strings.ReplaceAll(want, "+", "-2b-")
				want = strings.ReplaceAll(want, "=", "-3d-")
			}
			if kind == HashiCorp {
				want = strings.ReplaceAll(want, "_", "-5f-")
			}
			got, err := s.Name(tt.logical)
			if err != nil {
				t.Errorf("%s: Name(%q): %v", kind, tt.logical, err)
				continue
			}
			if got != want {
				t.Errorf("%s: Name(%q) = %q, want %q", kind, tt.logical, got, want)
			}
			if dec, err := s.Decode(got); err != nil || dec != tt.logical {
				t.Errorf("%s: Decode(%q) = %q, %v; want %q", kind, got, dec, err, tt.logical)
			}
		}
	}
}

func TestCheckRules(t *testing.T) {
	none := func(kind string) *Scheme { return mustScheme(t, kind, Options{None: true}) }
	tests := []struct {
		s       *Scheme
		encoded string
		rule    string // "" = accepted; otherwise a substring of Rule
	}{
		{none(Azure), "a_b", "may contain only 0-9 a-z A-Z and '-'"},
		{none(Azure), "a-B-9", ""},
		{none(AWS), "rpa/a.b@c-d_e+f=g", ""},
		{none(AWS), "a b", "may contain only A-Z a-z 0-9 / _ + = . @ -"},
		{none(AWS), "é", "may contain only"},
		{none(CyberArk), "user123@rpa.abcd.com", ""},
		{none(CyberArk), "a b-é'.,;", ""},
		{none(CyberArk), "a\tb", "control characters"},
		{none(CyberArk), "a\u2028b", "control characters"},
		{none(CyberArk), "a\xffb", "not valid UTF-8"},
		{none(HashiCorp), "a/b", "may not contain '/'"},
		{none(HashiCorp), ".", "not a usable"},
		{none(HashiCorp), "..", "not a usable"},
		{none(HashiCorp), "...", ""},
		{none(HashiCorp), "a\x00", "control characters"},
		{none(HashiCorp), "a b", ""},
		{none(Embedded), "a/b c", ""},
		{none(Embedded), "a\nb", "control characters"},
		{mustScheme(t, AWS, Options{}), "", "empty"},
	}
	for _, c := range []rune(`\/:*?"<>|`) {
		tests = append(tests, struct {
			s       *Scheme
			encoded string
			rule    string
		}{none(CyberArk), "a" + string(c), "may not contain"})
	}
	for _, tt := range tests {
		err := tt.s.Check("logical", tt.encoded)
		if tt.rule == "" {
			if err != nil {
				t.Errorf("%s: Check(%q): %v", tt.s, tt.encoded, err)
			}
			continue
		}
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("%s: Check(%q) = %v, want *RuleError", tt.s, tt.encoded, err)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("RuleError does not wrap ErrInvalid")
		}
		if !strings.Contains(re.Rule, tt.rule) {
			t.Errorf("%s: Check(%q) rule %q lacks %q", tt.s, tt.encoded, re.Rule, tt.rule)
		}
		if re.Provider != tt.s.Kind() || re.Logical != "logical" || re.Encoded != tt.encoded || re.Fix == "" {
			t.Errorf("RuleError fields: %+v", re)
		}
	}
}

func TestLengthLimits(t *testing.T) {
	tests := []struct {
		kind  string
		limit int
		unit  string // a raw character under the scheme, repeated limit times
		opt   Options
	}{
		{Azure, MaxAzure, "a", Options{}},
		{AWS, MaxAWS, "a", Options{}},
		{CyberArk, MaxCyberArk, "a", Options{}},
		{CyberArk, MaxCyberArk, "é", Options{None: true}}, // characters, not bytes
		{HashiCorp, MaxHashiCorp, "a", Options{}},
		{Embedded, MaxEmbedded, "a", Options{}},
	}
	for _, tt := range tests {
		s := mustScheme(t, tt.kind, tt.opt)
		at := strings.Repeat(tt.unit, tt.limit)
		if got, err := s.Name(at); err != nil || got != at {
			t.Errorf("%s: name of exactly %d characters: %q, %v", s, tt.limit, got, err)
		}
		over := at + tt.unit
		_, err := s.Name(over)
		var re *RuleError
		if !errors.As(err, &re) || !strings.Contains(re.Rule, "at most") || !strings.Contains(re.Fix, "shorten") {
			t.Errorf("%s: name of %d characters: err = %v, want a length RuleError", s, tt.limit+1, err)
			continue
		}
		if n := utf8.RuneCountInString(err.Error()); n > 600 {
			t.Errorf("%s: RuleError message has %d characters; long names must be cut", s, n)
		}
	}

	// The limit applies after encoding: each '.' costs 4 characters on Azure.
	az := mustScheme(t, Azure, Options{})
	if _, err := az.Name(strings.Repeat(".", 31) + "abc"); err != nil {
		t.Errorf("127 encoded characters: %v", err)
	}
	if _, err := az.Name(strings.Repeat(".", 32)); err == nil {
		t.Error("128 encoded characters accepted on Azure")
	}
}

func TestCheckSafe(t *testing.T) {
	good := []string{"finance", "a", strings.Repeat("s", 28), "RPA Safe_01-x", "Kasse€"}
	for _, s := range good {
		if err := CheckSafe(s); err != nil {
			t.Errorf("CheckSafe(%q): %v", s, err)
		}
	}
	bad := []string{"", strings.Repeat("s", 29), "a.b", "it's", "a\\b", "a/b", "a:b", "a*b", "a?b", `a"b`, "a<b", "a>b", "a|b",
		"a\tb", " lead", "trail ", "a\xffb"}
	for _, s := range bad {
		err := CheckSafe(s)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckSafe(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestValidateUsername(t *testing.T) {
	good := []string{
		"john", `ABCD\user123`, "user123@rpa.abcd.com", "josé", "中文", "👍", "a b",
		"👨\u200d👩\u200d👧", // zero-width joiners are format characters, accepted
		strings.Repeat("é", 256),
	}
	for _, u := range good {
		if err := ValidateUsername(u); err != nil {
			t.Errorf("ValidateUsername(%q): %v", u, err)
		}
	}
	tests := []struct {
		u, want string
	}{
		{"", "empty"},
		{strings.Repeat("é", 257), "257 characters"},
		{"a\x00b", "U+0000"},
		{"a\nb", "U+000A"},
		{"a\x7fb", "U+007F"},
		{"a\u0085b", "U+0085"},
		{"a\u2028b", "U+2028"},
		{"a\u2029b", "U+2029"},
		{"a\xffb", "not valid UTF-8"},
		{"\xc3", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := ValidateUsername(tt.u)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateUsername(%q) = %v, want ErrInvalid", tt.u, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "username") {
			t.Errorf("ValidateUsername(%q) = %q, want it to mention %q", tt.u, err, tt.want)
		}
	}

	// A huge username is never echoed in full.
	huge := strings.Repeat("x", 10000)
	err := ValidateUsername(huge)
	if err == nil || len(err.Error()) > 200 || strings.Contains(err.Error(), strings.Repeat("x", 33)) ||
		!strings.Contains(err.Error(), "…") {
		t.Errorf("10 kB username error = %q", err)
	}
}

func TestValidateComponent(t *testing.T) {
	if err := ValidateComponent("prefix", "accounting"); err != nil {
		t.Error(err)
	}
	for _, v := range []string{"", "a\tb", "\xff", strings.Repeat("c", 257)} {
		err := ValidateComponent("credential", v)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "credential") {
			t.Errorf("ValidateComponent(credential, %q) = %v", v, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	aws := mustScheme(t, AWS, Options{})
	tests := []struct {
		encoded string
		offset  int
		token   string
		why     string
	}{
		{"-zz-", 0, "-zz-", "lowercase hex"},
		{"ab-zz-", 2, "-zz-", "lowercase hex"},
		{"-4", 0, "-4", "cut short"},
		{"a-", 1, "-", "trailing"},
		{"x-2E-", 1, "-2E-", `canonical token is "-2e-"`},
		{"-2d", 0, "-2d", "cut short"},
		{"-2dx", 0, "-2dx", "not closed"},
		{"-2d--2d", 4, "-2d", "cut short"},
		{"-g0-", 0, "-g0-", "lowercase hex"},
		{"a.b", 1, ".", "does not pass raw"},
		{`a\b`, 1, `\`, `writes it as "--"`},
		{"é", 0, "é", "does not pass raw"},
		{"a\xffb", 1, "\xff", "not valid UTF-8"},
		{"-41-", 0, "-41-", "canonical form"},
		{"x-5c-", 1, "-5c-", "canonical form"},
		{"ab-2e--5f-", 6, "-5f-", "canonical form"},
	}
	for _, tt := range tests {
		got, err := aws.Decode(tt.encoded)
		if err == nil {
			t.Errorf("Decode(%q) = %q, want error", tt.encoded, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrAmbiguous) {
			t.Errorf("Decode(%q): %v: wrong class", tt.encoded, err)
		}
		msg := err.Error()
		for _, want := range []string{fmt.Sprintf("offset %d", tt.offset), fmt.Sprintf("%q", tt.token), tt.why} {
			if !strings.Contains(msg, want) {
				t.Errorf("Decode(%q) = %q, lacks %q", tt.encoded, msg, want)
			}
		}
	}

	// Tokens of bytes that are not valid UTF-8 are canonical: Encode writes them.
	for _, enc := range []string{"-c3-", "-ff-a", "-e2--82-"} {
		got, err := aws.Decode(enc)
		if err != nil || aws.Encode(got) != enc {
			t.Errorf("Decode(%q) = %q, %v", enc, got, err)
		}
	}
	if got, err := aws.Decode(""); err != nil || got != "" {
		t.Errorf("Decode(\"\") = %q, %v", got, err)
	}
}
