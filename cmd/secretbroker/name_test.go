package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/secretbroker/secretbroker/naming"
)

// vector is one row of testdata/naming-vectors.json, a copy of the shared
// naming vectors.
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

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "naming-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// schemeArgs are the -allowed and -encoding flags of the row.
func (v vector) schemeArgs() []string {
	var args []string
	if v.Allowed != "" {
		args = append(args, "-allowed", v.Allowed)
	}
	if v.Encoding != "" {
		args = append(args, "-encoding", v.Encoding)
	}
	return args
}

// encodeArgs is the name encode command line of the row, with flags.
func (v vector) encodeArgs(t *testing.T) []string {
	args := append([]string{"name", "encode", "-kind", v.Provider}, v.schemeArgs()...)
	switch v.Kind {
	case "system":
		args = append(args, "-system", "-credential", v.Credential)
	case "user":
		args = append(args, "-user-defined", "-credential", v.Credential, "-user", v.Username)
	case "autologin":
		args = append(args, "-autologin", "-user", v.Username)
	default:
		t.Fatalf("unknown kind %q", v.Kind)
	}
	if v.Provider == naming.CyberArk {
		if v.Safe != "" {
			args = append(args, "-safe", v.Safe)
		}
	} else if v.Prefix != "" {
		args = append(args, "-prefix", v.Prefix)
	}
	return args
}

// logical is the logical name of the row, as NAMING.md builds it.
func (v vector) logical() string {
	prefix := v.Prefix + "_"
	if v.Provider == naming.CyberArk {
		prefix = ""
	}
	switch v.Kind {
	case "system":
		return prefix + v.Credential
	case "user":
		return prefix + v.Credential + "_" + v.Username
	}
	return "autologin_" + v.Username
}

// rejected reports whether the row's name is one the provider cannot hold:
// only the CyberArk "encoding: none" row with a backslash.
func (v vector) rejected() bool {
	return v.Provider == naming.CyberArk && strings.Contains(v.Expected, `\`)
}

// showsSafe reports whether name encode prints a safe for the row.
func (v vector) showsSafe() bool { return v.Provider == naming.CyberArk && v.Safe != "" }

func TestNameEncodeVectors(t *testing.T) {
	rejected := 0
	for _, v := range loadVectors(t) {
		t.Run(v.Source+"/"+v.Provider, func(t *testing.T) {
			logical := v.logical()
			if v.rejected() {
				rejected++
			}
			positional := append([]string{"name", "encode", "-kind", v.Provider}, v.schemeArgs()...)
			if v.showsSafe() {
				positional = append(positional, "-safe", v.Safe)
			}
			forms := map[string][]string{
				"flags":      v.encodeArgs(t),
				"positional": append(positional, logical),
			}
			for form, args := range forms {
				r := runCLI(t, "", args...)
				if v.rejected() {
					wantOneErrorLine(t, r, 1)
					for _, want := range []string{strconv.Quote(v.Expected), "cyberark", "may not contain"} {
						if !strings.Contains(r.stderr, want) {
							t.Errorf("%s: error %q lacks %s", form, r.stderr, want)
						}
					}
					continue
				}
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("%s: %q: code %d, stderr %q", form, args, r.code, r.stderr)
				}
				want := "encoded: " + v.Expected + "\nlogical: " + logical + "\nscheme: "
				if !strings.HasPrefix(r.stdout, want) {
					t.Errorf("%s: stdout = %q, want it to start with %q", form, r.stdout, want)
				}
				if v.showsSafe() != strings.Contains(r.stdout, "\nsafe: "+v.Safe+"\n") {
					t.Errorf("%s: stdout = %q: safe line wrong", form, r.stdout)
				}

				r = runCLI(t, "", append([]string{"-o", "json"}, args...)...)
				if r.code != 0 {
					t.Fatalf("%s -o json: code %d, stderr %q", form, r.code, r.stderr)
				}
				var got map[string]any
				if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
					t.Fatalf("%s -o json: %v in %q", form, err, r.stdout)
				}
				if got["kind"] != v.Provider || got["logical"] != logical || got["encoded"] != v.Expected || got["scheme"] == "" {
					t.Errorf("%s -o json = %v", form, got)
				}
				if _, ok := got["safe"]; ok != v.showsSafe() {
					t.Errorf("%s -o json = %v: safe present = %v", form, got, ok)
				}
				if _, ok := got["mapped"]; ok != (form == "flags" && v.Kind == "autologin") {
					t.Errorf("%s -o json = %v: mapped present = %v", form, got, ok)
				}
			}
		})
	}
	if rejected != 1 {
		t.Errorf("%d rows rejected, want 1", rejected)
	}
}

func TestNameDecodeVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Source+"/"+v.Provider, func(t *testing.T) {
			s, err := naming.NewScheme(v.Provider, naming.Options{Allowed: v.Allowed, None: v.Encoding == "none"})
			if err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"name", "decode", "-kind", v.Provider}, v.schemeArgs()...), "--", v.Expected)
			r := runCLI(t, "", args...)
			if s.Ambiguous() && strings.Contains(v.Expected, "-") {
				wantOneErrorLine(t, r, 1)
				return
			}
			if want := v.Expected + " -> " + v.logical() + "\n"; r.code != 0 || r.stdout != want {
				t.Errorf("%q: code %d, stdout %q, stderr %q; want %q", args, r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

func TestNameDecode(t *testing.T) {
	r := runCLI(t, "", "name", "decode", "-kind", "azure", "accounting-5f-cv1", "autologin-5f-ABCD--user123")
	want := "accounting-5f-cv1 -> accounting_cv1\nautologin-5f-ABCD--user123 -> autologin_ABCD\\user123\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}

	// A bad name: the good ones are still decoded, the bad one is one line
	// on stderr, exit 1.
	r = runCLI(t, "", "name", "decode", "-kind", "aws", "accounting_pdf", "bad-ZZ-name")
	if r.code != 1 || r.stdout != "accounting_pdf -> accounting_pdf\n" {
		t.Errorf("code %d, stdout %q; want 1 and the good name", r.code, r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "bad-ZZ-name") {
		t.Errorf("stderr = %q, want one line naming the bad name", r.stderr)
	}

	r = runCLI(t, "", "-o", "json", "name", "decode", "-kind", "aws", "accounting_pdf", "bad-ZZ-name")
	var got []decodeResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	if r.code != 1 || len(got) != 2 || got[0].Logical != "accounting_pdf" || got[1].Error == "" || got[1].Encoded != "bad-ZZ-name" {
		t.Errorf("code %d, json %+v", r.code, got)
	}

	// A decoded control character is quoted, not printed raw.
	r = runCLI(t, "", "name", "decode", "-kind", "aws", "a-0a-b")
	if r.code != 0 || r.stdout != "a-0a-b -> \"a\\nb\"\n" {
		t.Errorf("code %d, stdout %q", r.code, r.stdout)
	}
}

func TestNameEncodeAutoLoginOptions(t *testing.T) {
	r := runCLI(t, "", "-o", "json", "name", "encode", "-kind", "azure", "-autologin", "-user", `ABCD\user123`,
		"-map", `ABCD\user123=custom-login`, "-map", "other=x")
	var got encodeResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %q (stderr %q)", err, r.stdout, r.stderr)
	}
	if got.Encoded != "custom-login" || got.Logical != "custom-login" || got.Mapped == nil || !*got.Mapped {
		t.Errorf("mapped: %+v", got)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}

	r = runCLI(t, "", "name", "encode", "-kind", "aws", "-autologin", "-user", "john", "-format", "rpa-{username}-login")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "encoded: rpa-2d-john-2d-login\nlogical: rpa-john-login\n") {
		t.Errorf("format: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, "", "name", "encode", "-kind", "aws", "-autologin", "-user", "john", "-format", "no placeholder")
	wantOneErrorLine(t, r, 1)
}

func TestNameEncodeCyberArkPrefixIgnored(t *testing.T) {
	r := runCLI(t, "", "name", "encode", "-kind", "cyberark", "-system", "-prefix", "accounting", "-credential", "glaccess")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "encoded: glaccess\n") {
		t.Errorf("code %d, stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "warning") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one warning line", r.stderr)
	}
}

func TestNameEncodeAmbiguousWarns(t *testing.T) {
	r := runCLI(t, "", "name", "encode", "-kind", "aws", "-allowed", `^[A-Za-z0-9_-]+$`, "my-name")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "encoded: my-name\n") || !strings.Contains(r.stderr, "warning") {
		t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestNameEncodeBadInputExit1(t *testing.T) {
	for name, args := range map[string][]string{
		"control character in username": {"-kind", "aws", "-autologin", "-user", "ABCD\\user\n123"},
		"username too long":             {"-kind", "aws", "-user-defined", "-prefix", "p", "-credential", "c", "-user", strings.Repeat("u", 257)},
		"invalid UTF-8 username":        {"-kind", "azure", "-user-defined", "-prefix", "p", "-credential", "c", "-user", "a\xffb"},
		"bad prefix":                    {"-kind", "aws", "-system", "-prefix", "p\tq", "-credential", "c"},
		"name too long for azure":       {"-kind", "azure", "-autologin", "-user", strings.Repeat("é", 20)},
		"bad regular expression":        {"-kind", "aws", "-allowed", "[", "x"},
		"bad safe":                      {"-kind", "cyberark", "-system", "-safe", "a/b", "-credential", "c"},
		"slash under hashicorp":         {"-kind", "hashicorp", "-allowed", `^[a-z/]+$`, "a/b"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"name", "encode"}, args...)...)
			wantOneErrorLine(t, r, 1)
		})
	}

	// A bad username is refused before any connection, by the online
	// commands too (the address is not listening).
	r := runCLI(t, "", "-addr", "127.0.0.1:1", "get", "-locker", "l", "-credential", "c", "-user", "a\nb")
	wantOneErrorLine(t, r, 1)
	if !strings.Contains(r.stderr, "username") {
		t.Errorf("stderr %q does not name the username", r.stderr)
	}
}

func TestNameKinds(t *testing.T) {
	r := runCLI(t, "", "name", "kinds")
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	for _, k := range naming.Kinds() {
		s, err := naming.NewScheme(k, naming.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.stdout, s.String()) {
			t.Errorf("kinds does not list %s:\n%s", s, r.stdout)
		}
	}
	r = runCLI(t, "", "-o", "json", "name", "kinds")
	var got []kindResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != len(naming.Kinds()) {
		t.Errorf("json %q: %v", r.stdout, err)
	}
}
