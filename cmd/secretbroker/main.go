// Command secretbroker is the command-line client of secretbrokerd.
//
// It reads, resolves, stores and deletes credentials through the daemon's
// gRPC API (package secretbrokerv1), authenticated by a bearer token (never
// given on the command line) or a client certificate, with TLS when -ca is
// given. Its offline commands need no daemon: "name" encodes and decodes
// secret names with package naming, and "audit verify" checks the hash
// chain of the daemon's audit log files with package audit:
//
//	secretbroker [global flags] <command> [flags] [arguments]
//
// Run "secretbroker help" for the commands and "secretbroker <command> -h"
// for the flags and an example of each. Errors are one line on standard
// error, "secretbroker: <message>"; the exit code is 0 on success, 1 on
// errors and 2 on usage errors.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
