package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

const (
	// preflightWorkers is how many checks may be in flight at once; the
	// rate limiter (-rps) bounds how many start each second.
	preflightWorkers = 4
	// defaultPreflightRPS is the default of -rps.
	defaultPreflightRPS = 20
	// preflightPurpose is the purpose sent when -purpose is not given, so
	// that the daemon's audit log says why it was asked.
	preflightPurpose = "secretbroker preflight"
)

// preflightFlags are the flags of the preflight command.
type preflightFlags struct {
	usersFile   string
	csv         bool
	pairsFile   string
	checks      listFlag
	autoLogin   bool
	rps         float64
	out         string
	bypassCache bool
}

// preflightAbout is the help of the preflight command after its usage lines.
const preflightAbout = `
Preflight checks, before bots run, that every Control Room user of -users has
the credentials it will ask for: its auto-login credential (unless
-autologin=false) and, for each locker/credential pair of -pairs or -check,
its user-defined credential or else the locker's system credential. It asks
the daemon's CheckCredentials RPC, which answers whether each secret exists,
never its value: the daemon's policy must grant operation "check" on the
lockers, and on the pseudo-locker "@autologin" for auto-login checks. At
most -rps checks start each second (keep it below the daemon's rate limit
for your identity), so the vaults are never flooded. The daemon's audit log
records each check with the purpose "secretbroker preflight" unless
-purpose says otherwise.

Each check is one of:
  present               the user's own credential (or auto-login) exists
  falls back to system  no user-defined credential, but the locker's system
                        credential exists: bots get that one
  missing               neither exists
  unreadable (CODE)     the vault or the daemon refused or failed
                        (PermissionDenied, Unavailable, ...); the daemon
                        never falls back to system on such errors

Preflight also reports collisions between users: encoded secret names that
differ only in case on a case-insensitive vault (Azure Key Vault, CyberArk),
so two users share one secret; the same secret name for two users (an
auto-login mapping, say); usernames that differ only in Unicode
normalisation (NFC and NFD "Zoë") or only in leading/trailing whitespace,
which encode to different names, so one of them is surely wrong. A username
with leading or trailing whitespace is flagged on its own.

Input: -users FILE holds one username per line (blank lines skipped; a
trailing CR and a UTF-8 byte order mark are removed, nothing else), or, when
FILE ends in .csv or -csv is given, CSV whose first column is the username
(a first row "username" or "user" is a header; other columns are ignored, so
Automation Anywhere's custom secrets mapping CSV works as it is). -pairs FILE
holds one locker/credential per line (# comments and blank lines skipped).

Output (-o): table (the default; "text" is the same), json or html. -out FILE
writes the json or html report to FILE (mode 0600) and the table to standard
output. The HTML report is one self-contained file (inline CSS, no scripts,
no external resources) with the summary, the users x credentials grid and
the secret names checked.

Exit code: 0 when every check is present (or falls back to system), nothing
collides and no username is flagged; 1 when something is missing,
unreadable, colliding or flagged (a one-line summary goes to standard error),
or on errors; 2 on usage errors (flags, unreadable or malformed files).

JSON (-o json), schema "secretbroker.preflight.v1"; fields are always present
unless marked "omitted when empty":
  {
    "schema": "secretbroker.preflight.v1",
    "daemon": "127.0.0.1:7787",          // -addr
    "time": "2026-01-02T03:04:05Z",      // UTC, RFC 3339
    "bypass_cache": false,
    "autologin": true,                   // auto-login was checked
    "pairs": [{"locker": "demo", "credential": "erp"}],
    "summary": {"users": 3, "checks": 6, "present": 3, "system": 1,
                "missing": 1, "unreadable": 1, "collisions": 1,
                "flagged_users": 0, "ok": false},
    "users": [{
      "username": "ABCD\\user123", "line": 1,       // line in -users
      "duplicate_lines": [7],                       // omitted when empty
      "flags": ["whitespace"],                      // [] when none
      "autologin": CHECK,                           // omitted with -autologin=false
      "credentials": [CHECK, ...]                   // one per pair, in order
    }],
    "collisions": [{
      "kind": "case" | "same_name" | "normalization" | "whitespace",
      "users": ["ABCD\\Bob", "abcd\\bob"], "lines": [3, 4],
      "detail": "...",
      "secrets": [{"provider": "kv", "provider_kind": "azure",
                   "safe": "", "names": ["a", "A"]}]   // [] for usernames
    }]
  }
  CHECK = {
    "locker": "demo", "credential": "erp",   // omitted for auto-login
    "status": "present" | "system" | "missing" | "unreadable",
    "user": "present" | "missing" | "unreadable",    // the user-defined secret, in any place
    "system": "present" | "missing" | "unreadable",  // the system secret, in any place
                      // user and system: omitted for auto-login, and when
                      // the daemon refused the whole check (no secrets)
    "code": "PermissionDenied", "reason": "...",      // omitted unless unreadable
    "colliding": false,
    "secrets": [{"scope": "USER" | "SYSTEM" | "AUTO_LOGIN", "provider": "store",
                 "provider_kind": "embedded", "safe": "", "secret_name": "...",
                 "logical_name": "...", "place": 0, "mapped": false,
                 "exists": true, "code": "OK", "reason": ""}]
  }`

func (a *app) preflight(ctx context.Context, args []string) error {
	spec := &cmdSpec{
		path: "preflight",
		lines: []string{
			"preflight -users FILE [-csv] [-pairs FILE] [-check LOCKER/CREDENTIAL]... [-autologin=false] [-rps N] [-bypass-cache] [-o table|json|html] [-out FILE]",
		},
		about: preflightAbout,
		examples: []string{
			`secretbroker preflight -users users.txt -check finance/erp -check demo/sap`,
			`secretbroker preflight -users aa-mapping.csv -pairs pairs.txt -o html -out preflight.html`,
			`secretbroker preflight -users users.txt -autologin=false -check finance/erp -o json > preflight.json`,
		},
	}
	fs := a.newFlags(spec)
	var f preflightFlags
	fs.StringVar(&f.usersFile, "users", "", "`file` of Control Room usernames: one per line, or CSV (first column) when it ends in .csv or with -csv (required)")
	fs.BoolVar(&f.csv, "csv", false, "read -users as CSV whatever its extension")
	fs.StringVar(&f.pairsFile, "pairs", "", "`file` of locker/credential pairs to check for each user, one per line")
	fs.Var(&f.checks, "check", "a `locker/credential` pair to check for each user (repeatable)")
	fs.BoolVar(&f.autoLogin, "autologin", true, "check each user's auto-login credential")
	fs.Float64Var(&f.rps, "rps", defaultPreflightRPS, "start at most `N` checks per second (a client-side token bucket)")
	fs.StringVar(&f.out, "out", "", "write the json or html report to this `file` (mode 0600); the table goes to standard output")
	fs.BoolVar(&f.bypassCache, "bypass-cache", false, "ask the vaults, not the daemon's cache")
	if err := a.parsePreflight(fs, spec, args); err != nil {
		return err
	}
	format, err := f.check(spec.path, a.g.output)
	if err != nil {
		return err
	}
	users, err := readUsersFile(f.usersFile, f.csv || strings.EqualFold(filepath.Ext(f.usersFile), ".csv"))
	if err != nil {
		return usagef(spec.path, "%v", err)
	}
	pairs, err := f.pairs()
	if err != nil {
		return usagef(spec.path, "%v", err)
	}
	if len(pairs) == 0 && !f.autoLogin {
		return usagef(spec.path, "nothing to check: give -pairs or -check, or leave -autologin on")
	}

	conn, err := a.dialOptions()
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient(a.g.addr, conn.opts...)
	if err != nil {
		return usagef("", "-addr %s: %v", quote(a.g.addr), err)
	}
	defer cc.Close()
	client := pb.NewSecretBrokerClient(cc)
	lim := rate.NewLimiter(rate.Limit(f.rps), 1)
	run := &preflightRun{
		users:       users,
		pairs:       pairs,
		autoLogin:   f.autoLogin,
		bypassCache: f.bypassCache,
		workers:     preflightWorkers,
		wait:        lim.Wait,
		check: func(ctx context.Context, req *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
			return a.checkCredentials(ctx, client, conn, req)
		},
	}
	results, err := run.run(ctx)
	if err != nil {
		return err
	}
	rep := newPreflightReport(a.g.addr, time.Now(), pairs, f.autoLogin, f.bypassCache, results)
	if err := a.writePreflight(rep, format, f.out); err != nil {
		return err
	}
	if !rep.Summary.OK {
		return errors.New("preflight: " + rep.Summary.problems())
	}
	return nil
}

// parsePreflight parses args as parse does, but -o may be table (text),
// json or html.
func (a *app) parsePreflight(fs *flag.FlagSet, spec *cmdSpec, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printUsage(a.stdout, fs, spec)
			return errHelp
		}
		return usagef(spec.path, "%v", err)
	}
	if err := noArgs(fs, spec); err != nil {
		return err
	}
	if a.g.timeout <= 0 {
		return usagef(spec.path, "-timeout %v: want a positive duration such as 10s", a.g.timeout)
	}
	return a.g.checkConnFlags(spec.path)
}

// check validates the flags and returns the output format: table, json or
// html.
func (f *preflightFlags) check(cmd, output string) (string, error) {
	format := output
	switch output {
	case "text", "table":
		format = "table"
	case "json", "html":
	default:
		return "", usagef(cmd, "-o %s: want table, json or html", quote(output))
	}
	switch {
	case f.usersFile == "":
		return "", usagef(cmd, "-users FILE is required")
	case !(f.rps > 0) || f.rps > 1e6:
		return "", usagef(cmd, "-rps %v: want a positive number of checks per second, such as 20", f.rps)
	case f.out != "" && format == "table":
		return "", usagef(cmd, "-out is for -o json or -o html (the table goes to standard output)")
	}
	return format, nil
}

// pairs returns the pairs of -pairs then -check, without duplicates.
func (f *preflightFlags) pairs() ([]preflightPair, error) {
	var pairs []preflightPair
	if f.pairsFile != "" {
		b, err := os.ReadFile(f.pairsFile)
		if err != nil {
			return nil, fmt.Errorf("-pairs: %w", err)
		}
		if pairs, err = parsePairs(f.pairsFile, b); err != nil {
			return nil, err
		}
	}
	for _, c := range f.checks {
		p, err := parsePair(c)
		if err != nil {
			return nil, fmt.Errorf("-check %s: %w", quote(c), err)
		}
		pairs = append(pairs, p)
	}
	return dedupePairs(pairs), nil
}

// checkCredentials asks the daemon through client, with the -timeout
// deadline and the purpose; a failed call is an *rpcError.
func (a *app) checkCredentials(ctx context.Context, client pb.SecretBrokerClient, conn *conn, req *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, a.g.timeout)
	defer cancel()
	purpose := a.g.purpose
	if purpose == "" {
		purpose = preflightPurpose
	}
	ctx = metadata.AppendToOutgoingContext(ctx, purposeKey, encodePurpose(purpose))
	var p peer.Peer
	resp, err := client.CheckCredentials(ctx, req, grpc.Peer(&p))
	if err == nil {
		return resp, nil
	}
	dl, _ := ctx.Deadline()
	return nil, &rpcError{
		st:       status.Convert(err),
		addr:     a.g.addr,
		reached:  p.Addr != nil,
		timedOut: errors.Is(ctx.Err(), context.DeadlineExceeded) || !time.Now().Before(dl),
		timeout:  a.g.timeout,
		sent:     conn.sent,
		tls:      conn.tls,
	}
}

// writePreflight writes rep: in format to stdout, or, with out, in format
// to the file out and as a table to stdout.
func (a *app) writePreflight(rep *preflightReport, format, out string) error {
	if out == "" {
		return writePreflightFormat(a.stdout, rep, format)
	}
	var b bytes.Buffer
	if err := writePreflightFormat(&b, rep, format); err != nil {
		return err
	}
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if err := writePreflightTable(a.stdout, rep); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "report written to %s\n", plain(out))
	return nil
}

// preflightRun is one run of checks.
type preflightRun struct {
	users       []preflightInputUser
	pairs       []preflightPair
	autoLogin   bool
	bypassCache bool
	// workers is how many checks may be in flight at once.
	workers int
	// wait blocks until the next check may start (the rate limiter).
	wait func(context.Context) error
	// check asks the daemon; a failed call is an *rpcError.
	check func(context.Context, *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error)
}

// run checks every user and returns the results in the order of the
// users, each with its auto-login check (if asked) and one check per pair.
// A check the daemon refuses is recorded as unreadable; only an error that
// would fail every check (no daemon at the address, a credential it does
// not accept, cancellation) ends the run.
func (r *preflightRun) run(ctx context.Context) ([]preflightUser, error) {
	out := make([]preflightUser, len(r.users))
	per := len(r.pairs)
	if r.autoLogin {
		per++
	}
	for i, u := range r.users {
		out[i] = preflightUser{Username: u.name, Line: u.line, DuplicateLines: u.duplicates, Flags: userFlags(u.name),
			Credentials: make([]preflightCheck, len(r.pairs))}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.workers, 1))
	for n := 0; n < len(r.users)*per && gctx.Err() == nil; n++ {
		u, k := &out[n/per], n%per
		if r.autoLogin {
			k-- // -1 is the auto-login check
		}
		g.Go(func() error {
			if err := r.wait(gctx); err != nil {
				return fmt.Errorf("preflight: %w", err)
			}
			req := &pb.CheckCredentialsRequest{Username: u.Username, BypassCache: r.bypassCache}
			var pair *preflightPair
			if k < 0 {
				req.AutoLogin = true
			} else {
				pair = &r.pairs[k]
				req.Locker, req.Credential = pair.Locker, pair.Credential
			}
			resp, err := r.check(gctx, req)
			var c preflightCheck
			switch {
			case err == nil:
				c = checkFromPresence(pair, resp.GetPresence())
			case fatalPreflightError(err):
				return err
			default:
				c = checkFromError(pair, err)
			}
			if pair == nil {
				u.AutoLogin = &c
			} else {
				u.Credentials[k] = c
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	return out, nil
}

// fatalPreflightError reports whether err, from a check, would fail every
// other check too: no daemon answering, a credential it refuses, the run
// cancelled.
func fatalPreflightError(err error) bool {
	var re *rpcError
	if !errors.As(err, &re) {
		return true
	}
	switch re.st.Code() {
	case codes.Unauthenticated, codes.Canceled:
		return true
	case codes.Unavailable, codes.DeadlineExceeded:
		return !re.reached
	}
	return false
}
