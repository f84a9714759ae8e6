// Command secretbrokerd is the secretbroker daemon: it serves RPA
// credentials from the configured vaults over gRPC. See README.md and
// docs/architecture.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/secretbroker/secretbroker/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := daemon.Main(ctx, os.Args[1:], hup, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
