package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/secretbroker/secretbroker/naming"
)

// nameUsage is the usage of the "name" command group.
const nameUsage = `Usage: secretbroker name encode -kind K (-system|-user-defined|-autologin) [flags]
       secretbroker name encode -kind K [-allowed REGEX] [-encoding none|default] LOGICAL
       secretbroker name decode -kind K [-allowed REGEX] [-encoding none|default] NAME...
       secretbroker name kinds

The name commands compute, offline and without a daemon, the names under which
the broker looks for secrets in a vault (see NAMING.md): encode builds and
encodes a name, decode turns an encoded name back into the logical name, kinds
lists the provider kinds and their default raw character sets.

Run 'secretbroker name <subcommand> -h' for the flags and examples.`

// name runs the "name" command group.
func (a *app) name(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, nameUsage)
		return errUsageShown
	}
	switch args[0] {
	case "encode":
		return a.nameEncode(args[1:])
	case "decode":
		return a.nameDecode(args[1:])
	case "kinds":
		return a.nameKinds(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(a.stdout, nameUsage)
		return errHelp
	}
	return usagef("name", "unknown subcommand %s: want encode, decode or kinds", quote(args[0]))
}

// schemeFlags are the flags that choose a naming.Scheme.
type schemeFlags struct {
	kind, allowed, encoding string
}

// register adds the flags of s to fs.
func (s *schemeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.kind, "kind", "", "provider kind (required): "+strings.Join(naming.Kinds(), ", "))
	fs.StringVar(&s.allowed, "allowed", "", "characters that pass raw: a `REGEX` matched against each one-character string, such as ^[A-Za-z0-9_+=]+$ (default: the kind's raw set)")
	fs.StringVar(&s.encoding, "encoding", "default", "`none` passes every character raw; default encodes the characters outside the raw set")
}

// check validates the flags of s for the command cmd.
func (s *schemeFlags) check(cmd string) error {
	kinds := strings.Join(naming.Kinds(), ", ")
	switch {
	case s.kind == "":
		return usagef(cmd, "-kind is required: one of %s", kinds)
	case !slices.Contains(naming.Kinds(), s.kind):
		return usagef(cmd, "-kind %s: want one of %s", quote(s.kind), kinds)
	case s.encoding != "default" && s.encoding != "none" && s.encoding != "":
		return usagef(cmd, "-encoding %s: want none or default", quote(s.encoding))
	case s.encoding == "none" && s.allowed != "":
		return usagef(cmd, "-allowed and -encoding none are exclusive")
	}
	return nil
}

// scheme returns the scheme of s; check s first.
func (s *schemeFlags) scheme() (*naming.Scheme, error) {
	return naming.NewScheme(s.kind, naming.Options{Allowed: s.allowed, None: s.encoding == "none"})
}

// mapFlag is the repeatable -map USERNAME=NAME flag.
type mapFlag struct {
	m map[string]string
}

func (f *mapFlag) String() string {
	var parts []string
	for _, u := range slices.Sorted(maps.Keys(f.m)) {
		parts = append(parts, u+"="+f.m[u])
	}
	return strings.Join(parts, ",")
}

func (f *mapFlag) Set(s string) error {
	u, n, ok := strings.Cut(s, "=")
	if !ok || u == "" || n == "" {
		return fmt.Errorf("want USERNAME=NAME")
	}
	if _, dup := f.m[u]; dup {
		return fmt.Errorf("username %s is mapped twice", quote(u))
	}
	if f.m == nil {
		f.m = make(map[string]string)
	}
	f.m[u] = n
	return nil
}

// encodeResult is the output of name encode.
type encodeResult struct {
	Kind    string `json:"kind"`
	Logical string `json:"logical"`
	Encoded string `json:"encoded"`
	Scheme  string `json:"scheme"`
	Safe    string `json:"safe,omitempty"`
	Mapped  *bool  `json:"mapped,omitempty"`
}

func (a *app) nameEncode(args []string) error {
	spec := &cmdSpec{
		path: "name encode",
		lines: []string{
			"name encode -kind K (-system|-user-defined|-autologin) [-prefix P | -safe S] [-credential C] [-user U] [-allowed REGEX] [-encoding none|default] [-format F] [-map USER=NAME]...",
			"name encode -kind K [-allowed REGEX] [-encoding none|default] [-safe S] LOGICAL",
		},
		about: `
Encode builds the logical name of a credential, offline, and encodes it as
the provider of -kind would store it:

  -system         {prefix}_{credential}
  -user-defined   {prefix}_{credential}_{username}
  -autologin      autologin_{username}, or -format with {username}; a name
                  given by -map is used verbatim, not encoded

On cyberark the locker is a Safe, not a prefix: the names are {credential}
and {credential}_{username}, -prefix is ignored and -safe is only shown. The
first argument, instead of those flags, is encoded as a whole logical name.

The encoded name is then checked against the provider's rules; a name the
provider cannot hold is an error (exit 1) that shows the encoded name.

Text output is the lines "encoded:", "logical:", "scheme:", and "safe:" for
cyberark with -safe ("mapped: true" for a mapped auto-login name). -o json
prints {"kind","logical","encoded","scheme","safe","mapped"}, safe and mapped
only where they apply.`,
		examples: []string{
			`secretbroker name encode -kind aws -user-defined -prefix accounting -credential pdf -user 'ABCD\user123'`,
			`secretbroker name encode -kind cyberark -system -safe finance -credential glaccess`,
			`secretbroker name encode -kind azure -autologin -user user123@rpa.abcd.com`,
			`secretbroker name encode -kind aws 'autologin_ABCD\user123'`,
		},
		mode: offline,
	}
	fs := a.newFlags(spec)
	var sf schemeFlags
	sf.register(fs)
	system := fs.Bool("system", false, "the system credential {prefix}_{credential}")
	userDef := fs.Bool("user-defined", false, "the user-defined credential {prefix}_{credential}_{username}")
	auto := fs.Bool("autologin", false, "the auto-login credential of -user")
	prefix := fs.String("prefix", "", "the locker's secret name prefix (required for -system and -user-defined, except on cyberark)")
	safe := fs.String("safe", "", "the locker's CyberArk Safe (cyberark only; shown, not part of the name)")
	cred := fs.String("credential", "", "credential name (-system, -user-defined)")
	usr := fs.String("user", "", "Control Room username, such as 'ABCD\\user123' (-user-defined, -autologin)")
	format := fs.String("format", "", "auto-login name format containing {username} (default autologin_{username})")
	var mapping mapFlag
	fs.Var(&mapping, "map", "USERNAME=NAME: the auto-login name of USERNAME is NAME, verbatim (repeatable)")
	if err := a.parse(fs, spec, args); err != nil {
		return err
	}
	if err := sf.check(spec.path); err != nil {
		return err
	}
	cyberark := sf.kind == naming.CyberArk
	switch {
	case *safe != "" && !cyberark:
		return usagef(spec.path, "-safe applies to -kind cyberark only (use -prefix)")
	case *safe != "" && *prefix != "":
		return usagef(spec.path, "-prefix and -safe are exclusive")
	}
	scopes := 0
	for _, b := range []bool{*system, *userDef, *auto} {
		if b {
			scopes++
		}
	}

	var logical string
	var mapped *bool
	raw := fs.NArg() == 1
	switch {
	case fs.NArg() > 1:
		return usagef(spec.path, "give at most one LOGICAL name (got %d arguments)", fs.NArg())
	case raw:
		if scopes > 0 || *prefix != "" || *cred != "" || *usr != "" || *format != "" || len(mapping.m) > 0 {
			return usagef(spec.path, "a LOGICAL argument replaces -system, -user-defined, -autologin, -prefix, -credential, -user, -format and -map")
		}
		logical = fs.Arg(0)
	case scopes != 1:
		return usagef(spec.path, "give exactly one of -system, -user-defined or -autologin (or a LOGICAL name)")
	case *auto:
		switch {
		case *cred != "" || *prefix != "":
			return usagef(spec.path, "-credential and -prefix do not apply to -autologin")
		case *usr == "":
			return usagef(spec.path, "-autologin needs -user")
		}
	default:
		switch {
		case *format != "" || len(mapping.m) > 0:
			return usagef(spec.path, "-format and -map apply to -autologin only")
		case *cred == "":
			return usagef(spec.path, "-credential is required with -system and -user-defined")
		case *system && *usr != "":
			return usagef(spec.path, "-user does not apply to -system (use -user-defined)")
		case *userDef && *usr == "":
			return usagef(spec.path, "-user-defined needs -user")
		case !cyberark && *prefix == "":
			return usagef(spec.path, "-prefix is required for -kind %s: the locker's secret name prefix", sf.kind)
		}
	}

	// Usage is fine; what follows checks values (exit 1).
	s, err := sf.scheme()
	if err != nil {
		return err
	}
	if *safe != "" {
		if err := naming.CheckSafe(*safe); err != nil {
			return err
		}
	}
	var encoded string
	switch {
	case raw:
		// Not ValidateComponent: a whole logical name may exceed 256
		// characters; Check enforces each provider's own limit.
		if !utf8.ValidString(logical) || strings.ContainsFunc(logical, unprintable) {
			return fmt.Errorf("logical name %s: want valid UTF-8 without control characters", quote(logical))
		}
		if encoded, err = s.Name(logical); err != nil {
			return err
		}
	case *auto:
		al, err := naming.NewAutoLogin(*format, mapping.m)
		if err != nil {
			return err
		}
		if err := naming.ValidateUsername(*usr); err != nil {
			return err
		}
		l, m := al.Logical(*usr)
		logical, mapped = l, &m
		if encoded, _, err = al.Name(s, *usr); err != nil {
			return err
		}
	default:
		p := *prefix
		if cyberark {
			if p != "" {
				fmt.Fprintf(a.stderr, "secretbroker: warning: -prefix %s is ignored on cyberark: the locker is a Safe (see -safe)\n", quote(p))
			}
			p = ""
		} else if err := naming.ValidateComponent("prefix", p); err != nil {
			return err
		}
		if err := naming.ValidateComponent("credential", *cred); err != nil {
			return err
		}
		if *system {
			logical = naming.SystemName(p, *cred)
		} else {
			if err := naming.ValidateUsername(*usr); err != nil {
				return err
			}
			logical = naming.UserName(p, *cred, *usr)
		}
		if encoded, err = s.Name(logical); err != nil {
			return err
		}
	}
	if s.Ambiguous() && strings.Contains(encoded, "-") && (mapped == nil || !*mapped) {
		fmt.Fprintf(a.stderr, "secretbroker: warning: '-' passes raw under %s, so this name cannot be decoded unambiguously\n", s)
	}

	res := encodeResult{Kind: sf.kind, Logical: logical, Encoded: encoded, Scheme: s.String(), Safe: *safe, Mapped: mapped}
	if a.g.json() {
		return writeJSON(a.stdout, res)
	}
	fmt.Fprintf(a.stdout, "encoded: %s\nlogical: %s\nscheme: %s\n", plain(res.Encoded), plain(res.Logical), res.Scheme)
	if res.Safe != "" {
		fmt.Fprintf(a.stdout, "safe: %s\n", plain(res.Safe))
	}
	if mapped != nil && *mapped {
		fmt.Fprintln(a.stdout, "mapped: true")
	}
	return nil
}

// decodeResult is one name in the output of name decode.
type decodeResult struct {
	Encoded string `json:"encoded"`
	Logical string `json:"logical,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (a *app) nameDecode(args []string) error {
	spec := &cmdSpec{
		path:  "name decode",
		lines: []string{"name decode -kind K [-allowed REGEX] [-encoding none|default] NAME..."},
		about: `
Decode turns encoded secret names back into logical names, for diagnostics.
Text output is one line per name, "NAME -> logical"; -o json prints a list of
{"encoded","logical"} ({"encoded","error"} for a name that does not decode).
A name that does not decode (not in the canonical form that encode writes, or
containing '-' under a scheme that lets '-' pass raw) is reported on standard
error and the exit code is 1. Put -- before names that start with '-'.`,
		examples: []string{
			`secretbroker name decode -kind azure accounting-5f-cv1-5f-ABCD--user123`,
			`secretbroker name decode -kind azure -- -5f-leading-5f-underscore`,
		},
		mode: offline,
	}
	var sf schemeFlags
	names, err := a.parseGroup(spec, &sf, args, true)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usagef(spec.path, "give at least one NAME to decode")
	}
	s, err := sf.scheme()
	if err != nil {
		return err
	}
	failed := false
	results := make([]decodeResult, 0, len(names))
	for _, n := range names {
		r := decodeResult{Encoded: n}
		if r.Logical, err = s.Decode(n); err != nil {
			r.Error = err.Error()
			failed = true
			fmt.Fprintf(a.stderr, "secretbroker: %s\n", oneLine(r.Error))
		} else if !a.g.json() {
			fmt.Fprintf(a.stdout, "%s -> %s\n", plain(n), plain(r.Logical))
		}
		results = append(results, r)
	}
	if a.g.json() {
		if err := writeJSON(a.stdout, results); err != nil {
			return err
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// kindResult is one kind in the output of name kinds.
type kindResult struct {
	Kind            string `json:"kind"`
	Scheme          string `json:"scheme"`
	CaseInsensitive bool   `json:"case_insensitive"`
}

func (a *app) nameKinds(args []string) error {
	spec := &cmdSpec{
		path:  "name kinds",
		lines: []string{"name kinds"},
		about: `
Kinds lists the provider kinds, the default raw character set of each (the
characters that pass unencoded) and whether the vault compares names without
regard to case.`,
		examples: []string{`secretbroker name kinds`},
		mode:     offline,
	}
	if err := a.parseNoArgs(a.newFlags(spec), spec, args); err != nil {
		return err
	}
	var results []kindResult
	for _, k := range naming.Kinds() {
		s, err := naming.NewScheme(k, naming.Options{})
		if err != nil {
			return err
		}
		results = append(results, kindResult{Kind: k, Scheme: s.String(), CaseInsensitive: s.CaseInsensitive()})
	}
	if a.g.json() {
		return writeJSON(a.stdout, results)
	}
	return writeKinds(a.stdout, results)
}

// writeKinds writes the kinds as a table.
func writeKinds(w io.Writer, results []kindResult) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSCHEME\tNAMES")
	for _, r := range results {
		c := "case-sensitive"
		if r.CaseInsensitive {
			c = "case-insensitive"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Kind, r.Scheme, c)
	}
	return tw.Flush()
}
