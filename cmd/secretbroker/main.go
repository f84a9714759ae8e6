// Command secretbroker is the command-line client of secretbrokerd.
//
// It reads, resolves, stores and deletes credentials through the daemon's
// gRPC API (package secretbrokerv1), and its offline "name" commands encode
// and decode secret names with package naming, without a daemon:
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
