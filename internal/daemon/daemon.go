// Package daemon runs secretbrokerd: it parses the flags, loads the
// configuration, builds the broker, serves the gRPC API (with health and
// reflection) and shuts down gracefully when its context ends.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/secretbroker/secretbroker/broker/server"
	"github.com/secretbroker/secretbroker/configs"
	"github.com/secretbroker/secretbroker/internal/config"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// Main runs the daemon until ctx ends and returns the process exit code:
// 0 after a clean shutdown, 1 on a runtime error, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secretbrokerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default: the built-in configs/secretbroker.yaml)")
	dataDir := fs.String("data-dir", "", "data directory for the embedded store (default: server.data_dir, else the user's state directory)")
	listen := fs.String("listen", "", "listen address, host:port or unix:/path (default: server.listen, else "+config.DefaultListen+")")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: server.log_level, else info)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "secretbrokerd: unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		return 2
	}
	cfg, err := load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "secretbrokerd: %v\n", err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "secretbrokerd: warning: %s\n", w)
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration is valid (%d providers, %d lockers)\n", cfg.File(), len(cfg.Providers), len(cfg.Lockers))
		return 0
	}
	d := &daemon{cfg: cfg, dataDir: *dataDir, listen: *listen, logLevel: *logLevel, stdout: stdout, stderr: stderr}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "secretbrokerd: %v\n", err)
		return 1
	}
	return 0
}

func load(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(configs.DefaultName, configs.Default)
	}
	return config.Load(path)
}

type daemon struct {
	cfg                       *config.Config
	dataDir, listen, logLevel string
	stdout, stderr            io.Writer
}

func (d *daemon) run(ctx context.Context) error {
	logger, err := d.logger()
	if err != nil {
		return err
	}
	dataDir, err := d.resolveDataDir()
	if err != nil {
		return err
	}
	listen := d.listen
	if listen == "" {
		listen = d.cfg.Listen()
	}
	network, addr, err := config.SplitListen(listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	b, err := d.cfg.Build(ctx, dataDir, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			logger.Error("closing providers", "error", err)
		}
	}()
	lis, err := listenOn(network, addr)
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	server.New(b).Register(g)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(pb.SecretBroker_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)

	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	fmt.Fprintf(d.stdout, "secretbrokerd listening on %s (config %s, data %s)\n", displayAddr(network, lis), d.cfg.File(), dataDir)
	logger.Info("serving", "listen", displayAddr(network, lis), "config", d.cfg.File(), "data_dir", dataDir)

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		logger.Warn("requests still running after 10s; stopping them")
		g.Stop()
	}
	return nil
}

func (d *daemon) logger() (*slog.Logger, error) {
	level := d.logLevel
	if level == "" {
		level = d.cfg.Server.LogLevel
	}
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q is not known (write debug, info, warn or error)", level)
		}
	}
	return slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: l})), nil
}

func (d *daemon) resolveDataDir() (string, error) {
	dir := d.dataDir
	if dir == "" {
		dir = d.cfg.Server.DataDir
	}
	if dir == "" {
		var err error
		if dir, err = config.DefaultDataDir(); err != nil {
			return "", err
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the data directory: %w (pass -data-dir with a writable directory)", err)
	}
	return dir, nil
}

// listenOn listens on a TCP address or a unix socket. A socket file left by
// a daemon that died is replaced; one a live daemon answers on is not.
func listenOn(network, addr string) (net.Listener, error) {
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("another daemon is listening on unix:%s", addr)
			}
			_ = os.Remove(addr)
		}
		lis, err := net.Listen("unix", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on unix:%s: %w", addr, err)
		}
		if err := os.Chmod(addr, 0o600); err != nil {
			lis.Close()
			return nil, fmt.Errorf("restricting unix:%s to its owner: %w", addr, err)
		}
		return lis, nil
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w (is another secretbrokerd running? pass -listen)", addr, err)
	}
	return lis, nil
}

func displayAddr(network string, lis net.Listener) string {
	if network == "unix" {
		return "unix:" + lis.Addr().String()
	}
	return lis.Addr().String()
}
