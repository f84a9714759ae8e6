package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

const (
	// defaultAddr is the daemon's address when neither -addr nor
	// SECRETBROKER_ADDR says otherwise.
	defaultAddr = "127.0.0.1:7787"
	// addrEnv is the environment variable that overrides defaultAddr.
	addrEnv = "SECRETBROKER_ADDR"
	// purposeKey is the gRPC metadata key that carries -purpose.
	purposeKey = "x-secretbroker-purpose"
	// defaultTimeout is the default of -timeout.
	defaultTimeout = 10 * time.Second
)

// env is what the program takes from the process's environment; tests
// replace it.
type env struct {
	// getenv looks up an environment variable.
	getenv func(string) string
	// homeDir and configDir return the user's home and configuration
	// directories, where the daemon's default data directory is.
	homeDir, configDir func() (string, error)
	// dial, when not nil, connects to the daemon instead of gRPC's own
	// dialer (tests point every address at a loopback listener).
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

// run runs the program with args (without the program name) and returns its
// exit code: 0 on success, 1 on errors, 2 on usage errors.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, stdin, stdout, stderr, env{getenv: os.Getenv, homeDir: os.UserHomeDir, configDir: os.UserConfigDir})
}

// runEnv is run with the environment e.
func runEnv(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, e env) int {
	out := &stickyWriter{w: stdout}
	a := &app{stdin: stdin, stdout: out, stderr: stderr, env: e}
	a.g = globals{addr: defaultAddr, output: "text", timeout: defaultTimeout}
	if v := e.getenv(addrEnv); v != "" {
		a.g.addr = v
	}
	err := a.main(ctx, args)
	if err == nil && out.err != nil {
		err = fmt.Errorf("writing output: %w", out.err)
	}
	return a.exitCode(err)
}

// app is one run of the program.
type app struct {
	stdin  io.Reader
	in     *bufio.Reader // stdin, buffered on first use
	stdout io.Writer
	stderr io.Writer
	env    env
	g      globals
}

// globals holds the global flags.
type globals struct {
	addr    string
	output  string
	timeout time.Duration
	purpose string
	// Credentials and TLS.
	tokenFile, dataDir        string
	ca, cert, key, serverName string
}

// json reports whether -o json was given.
func (g *globals) json() bool { return g.output == "json" }

// Errors that tell exitCode the message is already out.
var (
	// errHelp: usage was printed on request; exit 0.
	errHelp = errors.New("help shown")
	// errUsageShown: usage was printed for a usage error; exit 2.
	errUsageShown = errors.New("usage shown")
	// errReported: the errors were printed; exit 1.
	errReported = errors.New("errors reported")
)

// usageError is a command line the program cannot run: exit code 2.
type usageError struct {
	cmd string // "get", "name encode"; "" for the program
	msg string
}

func (e *usageError) Error() string { return e.msg }

// usagef returns a usage error of the command cmd.
func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// exitCode prints err, if any, as one line on stderr (plus a hint for some
// gRPC errors) and returns the exit code.
func (a *app) exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsageShown):
		return 2
	case errors.Is(err, errReported):
		return 1
	}
	var ue *usageError
	if errors.As(err, &ue) {
		msg, see := ue.msg, "secretbroker -h"
		if ue.cmd != "" {
			msg, see = ue.cmd+": "+msg, "secretbroker "+ue.cmd+" -h"
		}
		fmt.Fprintf(a.stderr, "secretbroker: %s (see '%s')\n", oneLine(msg), see)
		return 2
	}
	var re *rpcError
	if errors.As(err, &re) {
		msg := re.st.Message()
		switch re.st.Code() {
		case codes.Unauthenticated:
			msg += fmt.Sprintf(" (sent: %s; the daemon expects %s)", re.sent, expects)
		case codes.PermissionDenied:
			msg += fmt.Sprintf(" (sent: %s; the daemon's policy must grant this to that identity, or use another credential: %s)", re.sent, expects)
		}
		fmt.Fprintf(a.stderr, "secretbroker: %s: %s\n", re.st.Code(), oneLine(msg))
		if h := re.hint(); h != "" {
			fmt.Fprintf(a.stderr, "secretbroker: hint: %s\n", oneLine(h))
		}
		return 1
	}
	fmt.Fprintf(a.stderr, "secretbroker: %s\n", oneLine(err.Error()))
	return 1
}

// flagMode says which global flags a command's flag set accepts as well.
type flagMode int

const (
	// online commands accept every global flag after the command.
	online flagMode = iota
	// offline commands accept only -o.
	offline
)

// cmdSpec describes a command for its usage message.
type cmdSpec struct {
	path     string   // "get", "name encode"
	lines    []string // usage lines, after "secretbroker "
	about    string   // what it does, how its output looks
	examples []string
	mode     flagMode
}

// globalFlags registers the global flags that mode accepts on fs, bound to
// a.g (so that values given before the command are the defaults after it).
func (a *app) globalFlags(fs *flag.FlagSet, mode flagMode) {
	if mode == online {
		fs.StringVar(&a.g.addr, "addr", a.g.addr,
			"daemon address: host:port, or unix:/path/to.sock for a unix socket (env "+addrEnv+")")
		fs.DurationVar(&a.g.timeout, "timeout", a.g.timeout, "give up on the daemon after this long")
		fs.StringVar(&a.g.purpose, "purpose", a.g.purpose,
			"why you ask, in free `text`: the daemon records it in its audit log (gRPC metadata "+purposeKey+")")
		fs.Func("caller", "old name of -purpose: the `text` is recorded as a purpose, NOT as an identity (who you are comes from your credential)",
			func(s string) error { a.g.purpose = s; return nil })
		fs.StringVar(&a.g.tokenFile, "token-file", a.g.tokenFile,
			"read the bearer token from this `file` (mode 0600); see 'Authentication' in 'secretbroker -h'")
		fs.StringVar(&a.g.dataDir, "data-dir", a.g.dataDir,
			"send the local admin token of the daemon whose data directory is `dir` ("+adminTokenFile+" in it)")
		fs.StringVar(&a.g.ca, "ca", a.g.ca, "dial with TLS, verifying the daemon's certificate with this CA bundle (PEM `file`)")
		fs.StringVar(&a.g.cert, "cert", a.g.cert, "client certificate (PEM `file`) for mutual TLS; needs -key and -ca")
		fs.StringVar(&a.g.key, "key", a.g.key, "private key (PEM `file`) of -cert")
		fs.StringVar(&a.g.serverName, "server-name", a.g.serverName,
			"the `name` the daemon's certificate must hold, when it is not the host of -addr; needs -ca")
	}
	fs.StringVar(&a.g.output, "o", a.g.output, "output format: text or json")
}

// isGlobal reports whether name is a global flag of online commands.
func isGlobal(name string) bool {
	switch name {
	case "addr", "timeout", "purpose", "caller", "token-file", "data-dir", "ca", "cert", "key", "server-name", "o":
		return true
	}
	return false
}

// newFlags returns the flag set of the command spec, with the global flags
// its mode accepts.
func (a *app) newFlags(spec *cmdSpec) *flag.FlagSet {
	fs := flag.NewFlagSet("secretbroker "+spec.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.globalFlags(fs, spec.mode)
	return fs
}

// parse parses args into fs and checks the global flags. -h prints the usage
// of spec on stdout and returns errHelp.
func (a *app) parse(fs *flag.FlagSet, spec *cmdSpec, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printUsage(a.stdout, fs, spec)
			return errHelp
		}
		return usagef(spec.path, "%v", err)
	}
	switch a.g.output {
	case "text", "json":
	default:
		return usagef(spec.path, "-o %s: want text or json", quote(a.g.output))
	}
	if a.g.timeout <= 0 {
		return usagef(spec.path, "-timeout %v: want a positive duration such as 10s", a.g.timeout)
	}
	return a.g.checkConnFlags(spec.path)
}

// noArgs returns a usage error when fs has positional arguments.
func noArgs(fs *flag.FlagSet, spec *cmdSpec) error {
	if fs.NArg() > 0 {
		return usagef(spec.path, "unexpected argument %s (flags go before arguments)", quote(fs.Arg(0)))
	}
	return nil
}

// printUsage prints the usage of spec, whose flags are fs, to w.
func (a *app) printUsage(w io.Writer, fs *flag.FlagSet, spec *cmdSpec) {
	for i, l := range spec.lines {
		if i == 0 {
			fmt.Fprintf(w, "Usage: secretbroker %s\n", l)
		} else {
			fmt.Fprintf(w, "       secretbroker %s\n", l)
		}
	}
	fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(spec.about))
	if len(spec.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range spec.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	fmt.Fprintf(w, "\nFlags:\n")
	printFlags(w, fs, func(name string) bool { return spec.mode == offline || !isGlobal(name) })
	if spec.mode == online {
		fmt.Fprintf(w, "\nThe global flags (-addr, -timeout, -purpose, -token-file, -data-dir, -ca, -cert,\n-key, -server-name, -o) may be given before or after the command; see\n'secretbroker -h'.\n")
	}
}

// printFlags prints the flags of fs for which keep is true, as
// flag.PrintDefaults does.
func printFlags(w io.Writer, fs *flag.FlagSet, keep func(string) bool) {
	tmp := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	tmp.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f.Name) {
			tmp.Var(f.Value, f.Name, f.Usage)
			tmp.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	tmp.PrintDefaults()
}

// mainUsage is the program's usage after "Usage:" and before the flags.
const mainUsage = `secretbroker [global flags] <command> [flags] [arguments]

secretbroker is the command-line client of secretbrokerd: it reads and writes
credentials through the daemon's gRPC API. Its "name" commands encode and
decode secret names, and "audit verify" checks the daemon's audit log files,
offline, without a daemon.

Commands:
  get         read a credential of a locker (user-defined, else system)
  autologin   read the auto-login credential of a Control Room user
  resolve     show which secrets a request would try, without reading them
  lockers     list the configured lockers
  put         store a credential in a writable provider
  delete      delete a credential from a writable provider
  preflight   check that every user's credentials exist, and collisions (no values)
  name        encode and decode secret names offline (encode, decode, kinds)
  audit       verify the hash chain of the daemon's audit log files offline
  version     print the version of this program
  help        show the help of a command: secretbroker help <command>

Run 'secretbroker <command> -h' for the flags and examples of a command.
Errors are one line on standard error; the exit code is 0 on success, 1 on
errors and 2 on usage errors.

Authentication: every call carries the first bearer token found, as gRPC
metadata "authorization: Bearer <token>":
  1. -token-file FILE
  2. -data-dir DIR: the daemon's local admin token, DIR/` + adminTokenFile + `
  3. $` + tokenEnv + `
  4. the file $` + tokenFileEnv + `
  5. the local admin token in the daemon's default data directory
     ($XDG_STATE_HOME/secretbroker, else ~/.local/state/secretbroker), if
     it exists; it is sent only to a daemon on this machine.
A token is never given on the command line. Token files must have mode 0600.
With -ca the CLI dials with TLS (add -cert and -key for a client
certificate); without it, a token is sent only to a loopback address or a
unix socket, never in plaintext over a network. -purpose says why you ask;
the daemon records it as free text, never as who you are.

Examples:
  secretbroker -addr unix:/run/secretbroker.sock lockers
  secretbroker -addr broker.example.com:7787 -ca ca.pem -cert bot.pem -key bot-key.pem lockers`

// printMainUsage prints the program's usage to w.
func (a *app) printMainUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\nGlobal flags:\n", mainUsage)
	printFlags(w, fs, func(string) bool { return true })
}

// main parses the global flags and runs the command.
func (a *app) main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("secretbroker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.globalFlags(fs, online)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printMainUsage(a.stdout, fs)
			return errHelp
		}
		return usagef("", "%v", err)
	}
	if fs.NArg() == 0 {
		a.printMainUsage(a.stderr, fs)
		return errUsageShown
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "get":
		return a.get(ctx, rest)
	case "autologin":
		return a.autologin(ctx, rest)
	case "resolve":
		return a.resolve(ctx, rest)
	case "lockers":
		return a.lockers(ctx, rest)
	case "put":
		return a.put(ctx, rest)
	case "delete":
		return a.delete(ctx, rest)
	case "name":
		return a.name(rest)
	case "audit":
		return a.audit(rest)
	case "preflight":
		return a.preflight(ctx, rest)
	case "version":
		return a.version(rest)
	case "help", "-help", "--help":
		if len(rest) == 0 {
			a.printMainUsage(a.stdout, fs)
			return errHelp
		}
		return a.main(ctx, append(append([]string(nil), rest...), "-h"))
	}
	return usagef("", "unknown command %s", quote(cmd))
}
