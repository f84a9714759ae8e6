// Command secretbrokerd is the secretbroker daemon: it serves RPA
// credentials from the configured vaults over gRPC. See README.md.
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
	code := daemon.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
