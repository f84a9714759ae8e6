package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/secretbroker/secretbroker/naming"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty value")
	}
	*l = append(*l, s)
	return nil
}

// target is what resolve, put and delete address: the auto-login credential
// of a user, or a credential of a locker (user-defined when user is set).
type target struct {
	autoLogin  bool
	locker     string
	credential string
	user       string
}

// register adds the flags of t to fs.
func (t *target) register(fs *flag.FlagSet) {
	fs.BoolVar(&t.autoLogin, "autologin", false, "the auto-login credential of -user (no -locker, no -credential)")
	fs.StringVar(&t.locker, "locker", "", "locker name (required without -autologin)")
	fs.StringVar(&t.credential, "credential", "", "credential name in the locker (required without -autologin)")
	fs.StringVar(&t.user, "user", "", "Control Room username, such as 'ABCD\\user123': the user-defined credential (required with -autologin)")
}

// check validates the flags of t for the command cmd.
func (t *target) check(cmd string) error {
	if t.autoLogin {
		if t.locker != "" || t.credential != "" {
			return usagef(cmd, "-locker and -credential do not apply to -autologin")
		}
		if t.user == "" {
			return usagef(cmd, "-autologin needs -user")
		}
	} else if t.locker == "" || t.credential == "" {
		return usagef(cmd, "-locker and -credential are required (or -autologin -user U)")
	}
	return checkUser(t.user)
}

// checkUser validates a username given on the command line, if any.
func checkUser(u string) error {
	if u == "" {
		return nil
	}
	return naming.ValidateUsername(u)
}

// flagGroup is a set of flags that several commands share, such as target
// or schemeFlags.
type flagGroup interface {
	// register adds the flags to fs.
	register(fs *flag.FlagSet)
	// check validates the parsed flags for the command cmd.
	check(cmd string) error
}

// parseGroup parses args for the command spec, whose only flags besides the
// global ones are those of g, and checks g. It returns the positional
// arguments, which are a usage error (reported before g's checks) unless
// positional is set.
func (a *app) parseGroup(spec *cmdSpec, g flagGroup, args []string, positional bool) ([]string, error) {
	fs := a.newFlags(spec)
	g.register(fs)
	err := a.parse(fs, spec, args)
	if err == nil && !positional {
		err = noArgs(fs, spec)
	}
	if err == nil {
		err = g.check(spec.path)
	}
	if err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// parseNoArgs parses args into fs, the flags of the command spec, which
// takes no positional arguments.
func (a *app) parseNoArgs(fs *flag.FlagSet, spec *cmdSpec, args []string) error {
	if err := a.parse(fs, spec, args); err != nil {
		return err
	}
	return noArgs(fs, spec)
}

// callAndPrint sends req to the daemon with method, such as
// pb.SecretBrokerClient.GetCredential, and prints the response: as protojson
// with -o json, otherwise with text.
func callAndPrint[Req any, Resp proto.Message](ctx context.Context, a *app,
	method func(pb.SecretBrokerClient, context.Context, Req, ...grpc.CallOption) (Resp, error),
	req Req, text func(Resp) error) error {
	var resp Resp
	err := a.call(ctx, func(ctx context.Context, c pb.SecretBrokerClient, opts ...grpc.CallOption) (err error) {
		resp, err = method(c, ctx, req, opts...)
		return err
	})
	if err != nil {
		return err
	}
	if a.g.json() {
		return writeProto(a.stdout, resp)
	}
	return text(resp)
}

// scopeName returns the scope as text output shows it: USER, SYSTEM,
// AUTO_LOGIN, or "" when unspecified.
func scopeName(s pb.Scope) string {
	if s == pb.Scope_SCOPE_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(s.String(), "SCOPE_")
}

// describe returns a header line for a credential, such as
// `USER credential "accounting_pdf_ABCD--user123" from provider "store" (embedded)`.
// prep is the word before "provider" ("from", "in"); version and updated, if
// set, are appended.
func describe(scope pb.Scope, src *pb.Source, prep, version string, updated time.Time) string {
	var b strings.Builder
	if s := scopeName(scope); s != "" {
		b.WriteString(s + " ")
	}
	b.WriteString("credential")
	if src != nil {
		if n := src.GetSecretName(); n != "" {
			b.WriteString(" " + quote(n))
		}
		if l := src.GetLocation(); l != "" {
			b.WriteString(" (safe " + quote(l) + ")")
		}
		fmt.Fprintf(&b, " %s provider %s", prep, quote(src.GetProvider()))
		if k := src.GetProviderKind(); k != "" {
			b.WriteString(" (" + plain(k) + ")")
		}
	}
	if version != "" {
		b.WriteString(", version " + quote(version))
	}
	if !updated.IsZero() {
		b.WriteString(", updated " + updated.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// describeCredential is describe for a credential read from the daemon.
func describeCredential(scope pb.Scope, src *pb.Source, c *pb.Credential) string {
	var updated time.Time
	if c.GetUpdatedAt() != nil {
		updated = c.GetUpdatedAt().AsTime()
	}
	return describe(scope, src, "from", c.GetVersion(), updated)
}

// matchKey reports whether attribute key k is one of want: exactly, or
// without regard to case.
func matchKey(k string, want []string) bool {
	for _, w := range want {
		if strings.EqualFold(k, w) {
			return true
		}
	}
	return false
}

// writeAttributes writes the attributes of c as "key: value" lines sorted by
// key; only those in only when only is not empty. Password-like values are
// masked unless reveal; binary values are shown as base64:...; values that
// would not print on one line are Go-quoted.
func writeAttributes(w io.Writer, c *pb.Credential, only []string, reveal bool) {
	text, bin := c.GetAttributes(), c.GetBinaryAttributes()
	keys := slices.Sorted(maps.Keys(text))
	for k := range bin {
		if _, ok := text[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(only) > 0 && !matchKey(k, only) {
			continue
		}
		var v string
		if s, ok := text[k]; ok {
			v = plain(s)
		} else {
			v = "base64:" + base64.StdEncoding.EncodeToString(bin[k])
		}
		if sensitive(k) && !reveal {
			v = mask
		}
		fmt.Fprintf(w, "%s: %s\n", plain(k), v)
	}
}

// writeBare writes the value of attribute key of c alone, as it is, for
// scripts. The key matches exactly, else without regard to case when only one
// attribute matches so. A missing attribute is an error naming the keys the
// credential has (never values).
func writeBare(w io.Writer, c *pb.Credential, key string) error {
	text, bin := c.GetAttributes(), c.GetBinaryAttributes()
	if v, ok := text[key]; ok {
		_, err := fmt.Fprintln(w, v)
		return err
	}
	if v, ok := bin[key]; ok {
		if _, err := w.Write(v); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
	var found []string
	for k := range text {
		if strings.EqualFold(k, key) {
			found = append(found, k)
		}
	}
	for k := range bin {
		if strings.EqualFold(k, key) {
			found = append(found, k)
		}
	}
	if len(found) == 1 {
		return writeBare(w, c, found[0])
	}
	keys := slices.Collect(maps.Keys(text))
	keys = append(keys, slices.Collect(maps.Keys(bin))...)
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = quote(k)
	}
	has := "no attributes"
	if len(keys) > 0 {
		has = "attributes " + strings.Join(keys, ", ")
	}
	if len(found) > 1 {
		return fmt.Errorf("attribute %s is ambiguous: the credential has %s", quote(key), has)
	}
	return fmt.Errorf("the credential has no attribute %s (it has %s)", quote(key), has)
}

func (a *app) get(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path:  "get",
		lines: []string{"get -locker L -credential C [-user U] [-attr KEY]... [-reveal]"},
		about: `
Get reads a credential of a locker: the user-defined credential of -user when
it exists, otherwise the locker's system credential.

Text output is a header line with the scope and source, then the login name
when the locker builds one, then the attributes as "key: value" lines sorted by
key. Values of password-like keys (containing password, passwd, passphrase,
pwd, secret, token or key) show as ******** unless -reveal is given; binary
values show as base64:...; values with control characters are Go-quoted.

With exactly one -attr, text output is the bare value of that attribute alone
on one line, unmasked (you asked for it), for scripts. -attr is repeatable:
the daemon then returns only those attributes.

-o json prints the GetCredentialResponse as protojson (.proto field names)
and INCLUDES EVERY VALUE UNMASKED: it is meant for scripts.`,
		examples: []string{
			`secretbroker get -locker finance -credential pdf -user 'ABCD\user123'`,
			`PASSWORD="$(secretbroker get -locker finance -credential pdf -user 'ABCD\user123' -attr password)"`,
		},
	}
	fs := a.newFlags(spec)
	locker := fs.String("locker", "", "locker name (required)")
	cred := fs.String("credential", "", "credential name in the locker (required)")
	usr := fs.String("user", "", "Control Room username, such as 'ABCD\\user123': its user-defined credential when it exists")
	var attrs listFlag
	fs.Var(&attrs, "attr", "return only this attribute (repeatable); with exactly one, print its bare value")
	reveal := fs.Bool("reveal", false, "show password-like values instead of "+mask)
	if err := a.parseNoArgs(fs, spec, args); err != nil {
		return err
	}
	if *locker == "" || *cred == "" {
		return usagef(spec.path, "-locker and -credential are required")
	}
	if err := checkUser(*usr); err != nil {
		return err
	}
	req := &pb.GetCredentialRequest{Locker: *locker, Credential: *cred, Username: *usr, Attributes: attrs}
	return callAndPrint(ctx, a, pb.SecretBrokerClient.GetCredential, req, func(resp *pb.GetCredentialResponse) error {
		if len(attrs) == 1 {
			return writeBare(a.stdout, resp.GetCredential(), attrs[0])
		}
		fmt.Fprintln(a.stdout, describeCredential(resp.GetScope(), resp.GetSource(), resp.GetCredential()))
		if ln := resp.GetLoginName(); ln != "" {
			fmt.Fprintf(a.stdout, "login name: %s\n", plain(ln))
		}
		writeAttributes(a.stdout, resp.GetCredential(), attrs, *reveal)
		return nil
	})
}

func (a *app) autologin(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path:  "autologin",
		lines: []string{"autologin -user U [-reveal]"},
		about: `
Autologin reads the auto-login credential (the Windows login) of a bot runner,
looked up by its Control Room username.

Text output is a header line with the source, the login name, then the
attributes as "key: value" lines sorted by key, password-like values masked
unless -reveal is given (see 'secretbroker get -h').

-o json prints the GetAutoLoginCredentialResponse as protojson and INCLUDES
EVERY VALUE UNMASKED: it is meant for scripts.`,
		examples: []string{`secretbroker autologin -user 'ABCD\user123'`},
	}
	fs := a.newFlags(spec)
	usr := fs.String("user", "", "Control Room username, such as 'ABCD\\user123' (required)")
	reveal := fs.Bool("reveal", false, "show password-like values instead of "+mask)
	if err := a.parseNoArgs(fs, spec, args); err != nil {
		return err
	}
	if *usr == "" {
		return usagef(spec.path, "-user is required")
	}
	if err := checkUser(*usr); err != nil {
		return err
	}
	req := &pb.GetAutoLoginCredentialRequest{Username: *usr}
	return callAndPrint(ctx, a, pb.SecretBrokerClient.GetAutoLoginCredential, req, func(resp *pb.GetAutoLoginCredentialResponse) error {
		fmt.Fprintln(a.stdout, describeCredential(pb.Scope_SCOPE_AUTO_LOGIN, resp.GetSource(), resp.GetCredential()))
		fmt.Fprintf(a.stdout, "login name: %s\n", plain(resp.GetLoginName()))
		writeAttributes(a.stdout, resp.GetCredential(), nil, *reveal)
		return nil
	})
}

func (a *app) resolve(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path:  "resolve",
		lines: []string{"resolve [-autologin] [-locker L -credential C] [-user U]"},
		about: `
Resolve says which secrets a request would try, in order, without reading
them: the first that exists is served. Text output numbers the candidates:

  1. USER     accounting_pdf_ABCD--user123   provider store (embedded)   logical accounting_pdf_ABCD\user123
  2. SYSTEM   accounting_pdf                 provider store (embedded)   logical accounting_pdf

CyberArk candidates name their Safe; "mapped" marks an auto-login name taken
verbatim from the configured mapping. -o json prints the ResolveNameResponse.`,
		examples: []string{
			`secretbroker resolve -locker finance -credential pdf -user 'ABCD\user123'`,
			`secretbroker resolve -autologin -user user123@rpa.abcd.com`,
		},
	}
	var t target
	if _, err := a.parseGroup(spec, &t, args, false); err != nil {
		return err
	}
	req := &pb.ResolveNameRequest{AutoLogin: t.autoLogin, Locker: t.locker, Credential: t.credential, Username: t.user}
	return callAndPrint(ctx, a, pb.SecretBrokerClient.ResolveName, req, func(resp *pb.ResolveNameResponse) error {
		return writeCandidates(a.stdout, resp.GetCandidates())
	})
}

// writeCandidates writes the candidates of resolve as a numbered table.
func writeCandidates(w io.Writer, candidates []*pb.Candidate) error {
	if len(candidates) == 0 {
		fmt.Fprintln(w, "no candidates")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for i, c := range candidates {
		src := c.GetSource()
		prov := "provider " + plain(src.GetProvider())
		if k := src.GetProviderKind(); k != "" {
			prov += " (" + plain(k) + ")"
		}
		if l := src.GetLocation(); l != "" {
			prov += " safe " + plain(l)
		}
		fmt.Fprintf(tw, "%d. %s\t%s\t%s\tlogical %s", i+1, scopeName(c.GetScope()), plain(src.GetSecretName()), prov, plain(src.GetLogicalName()))
		if c.GetMapped() {
			fmt.Fprint(tw, "\tmapped")
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func (a *app) lockers(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path:  "lockers",
		lines: []string{"lockers"},
		about: `
Lockers lists the configured lockers as a table: name, provider, provider
kind, secret name prefix (or CyberArk Safe) and whether put and delete work.
It shows no secrets. -o json prints the ListLockersResponse.`,
		examples: []string{`secretbroker lockers`, `secretbroker -o json lockers`},
	}
	if err := a.parseNoArgs(a.newFlags(spec), spec, args); err != nil {
		return err
	}
	return callAndPrint(ctx, a, pb.SecretBrokerClient.ListLockers, &pb.ListLockersRequest{}, func(resp *pb.ListLockersResponse) error {
		return writeLockers(a.stdout, resp.GetLockers())
	})
}

// writeLockers writes the lockers as a table.
func writeLockers(w io.Writer, lockers []*pb.Locker) error {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return plain(s)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tKIND\tPREFIX\tSAFE\tWRITABLE")
	for _, l := range lockers {
		w := "no"
		if l.GetWritable() {
			w = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(l.GetName()), dash(l.GetProvider()), dash(l.GetProviderKind()),
			dash(l.GetPrefix()), dash(l.GetSafe()), w)
	}
	return tw.Flush()
}

func (a *app) put(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path:  "put",
		lines: []string{"put [-autologin] -locker L -credential C [-user U] KEY=VALUE..."},
		about: `
Put stores a credential in a writable provider, under the name computed from
the locker, credential and username (or the auto-login name of -user with
-autologin). Without -user it stores the locker's system credential.

Each argument sets one attribute; at least one is required:
  key=value   the literal value (it stays in your shell history)
  key=@file   the contents of file (at most 1 MiB), one trailing newline
              removed from text
  key=-       one line read from standard input: use it for passwords, to
              keep them out of shell history and the process list. Several
              key=- read successive lines. (A prompt is shown on a terminal,
              but the typed value is echoed.)
Values that are not valid UTF-8 are sent as binary attributes. A literal
value starting with @ or equal to - can be given through key=-.`,
		examples: []string{
			`secretbroker put -locker finance -credential pdf -user 'ABCD\user123' username=user123 password=-`,
			`printf '%s\n' "$PW" | secretbroker put -autologin -user 'ABCD\user123' username=user123 domain=ABCD password=-`,
			`secretbroker put -locker finance -credential tls certificate=@cert.pem`,
		},
	}
	var t target
	assignments, err := a.parseGroup(spec, &t, args, true)
	if err != nil {
		return err
	}
	vals, err := parseAssignments(spec.path, assignments)
	if err != nil {
		return err
	}
	req := &pb.PutCredentialRequest{AutoLogin: t.autoLogin, Locker: t.locker, Credential: t.credential, Username: t.user}
	if err := a.readValues(vals, req); err != nil {
		return err
	}
	return callAndPrint(ctx, a, pb.SecretBrokerClient.PutCredential, req, func(resp *pb.PutCredentialResponse) error {
		fmt.Fprintln(a.stdout, "stored "+describe(resp.GetScope(), resp.GetSource(), "in", resp.GetVersion(), time.Time{}))
		return nil
	})
}

func (a *app) delete(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path:  "delete",
		lines: []string{"delete [-autologin] -locker L -credential C [-user U]"},
		about: `
Delete deletes a credential from a writable provider: the user-defined
credential of -user, the locker's system credential without -user, or the
auto-login credential of -user with -autologin. It does not ask for
confirmation. -o json prints the DeleteCredentialResponse.`,
		examples: []string{`secretbroker delete -locker finance -credential pdf -user 'ABCD\user123'`},
	}
	var t target
	if _, err := a.parseGroup(spec, &t, args, false); err != nil {
		return err
	}
	req := &pb.DeleteCredentialRequest{AutoLogin: t.autoLogin, Locker: t.locker, Credential: t.credential, Username: t.user}
	return callAndPrint(ctx, a, pb.SecretBrokerClient.DeleteCredential, req, func(resp *pb.DeleteCredentialResponse) error {
		fmt.Fprintln(a.stdout, "deleted "+describe(resp.GetScope(), resp.GetSource(), "from", "", time.Time{}))
		return nil
	})
}
