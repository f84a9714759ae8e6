// Package daemon runs secretbrokerd: it parses the flags, loads the
// configuration, wires authentication, policy, audit, metrics and the
// provider catalog into a broker, serves the gRPC API (and the admin HTTP
// listener with metrics and health), reloads on SIGHUP, and shuts down
// gracefully when its context ends.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/secretbroker/secretbroker/configs"
	"github.com/secretbroker/secretbroker/internal/config"
)

// Version is the daemon's version; release builds set it with
// -ldflags "-X github.com/secretbroker/secretbroker/internal/daemon.Version=v1.2.3".
var Version = ""

// version returns Version, else the module version Go recorded, else
// "devel".
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Main runs the daemon until ctx ends and returns the process exit code:
// 0 after a clean shutdown, 1 on a runtime error, 2 on a usage error.
// hup delivers SIGHUP (reload the configuration, reopen the audit file).
func Main(ctx context.Context, args []string, hup <-chan os.Signal, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secretbrokerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: secretbrokerd [flags]\n\nServes RPA credentials from the configured vaults over gRPC.\nConfiguration: configs/secretbroker.yaml (every field); README.md; docs/architecture.md; naming rules: docs/naming.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "configuration file (default: the built-in configs/secretbroker.yaml)")
	dataDir := fs.String("data-dir", "", "data directory for the embedded store, the local admin token and the audit file (default: server.data_dir, else the user's state directory)")
	listen := fs.String("listen", "", "gRPC listen address, host:port or unix:/path (default: server.listen, else "+config.DefaultListen+")")
	check := fs.Bool("check-config", false, "validate the configuration (every check short of contacting a vault), print every error, and exit")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: server.log_level, else info)")
	adminListen := fs.String("admin-listen", "", "admin HTTP listen address for /metrics, /healthz, /readyz, or off (default: admin.listen, else "+config.DefaultAdminListen+")")
	showVersion := fs.Bool("version", false, "print the version and exit")
	probe := fs.String("probe", "", "GET this URL (e.g. http://127.0.0.1:7788/readyz) and exit 0 if it answers 200: a health check for images without a shell")
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
	switch {
	case *showVersion:
		fmt.Fprintf(stdout, "secretbrokerd %s\n", version())
		return 0
	case *probe != "":
		return probeURL(*probe, stderr)
	}
	cfg, err := load(ctx, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "secretbrokerd: %v\n", err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "secretbrokerd: warning: %s\n", w)
	}
	if *listen != "" {
		if _, _, err := config.SplitListen(*listen); err != nil {
			fmt.Fprintf(stderr, "secretbrokerd: -listen: %v\n", err)
			return 2
		}
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration is valid (%d providers, %d lockers)\n", cfg.File(), len(cfg.Providers), len(cfg.Lockers))
		return 0
	}
	d := &daemon{cfgPath: *cfgPath, cfg: cfg, dataDirFlag: *dataDir, listenFlag: *listen, adminFlag: *adminListen, logLevel: *logLevel, stdout: stdout, stderr: stderr, hup: hup}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "secretbrokerd: %v\n", err)
		return 1
	}
	return 0
}

// load reads the configuration file, or the built-in one. A load of a huge
// file is abandoned when ctx ends (SIGTERM during a load is honoured).
func load(ctx context.Context, path string) (*config.Config, error) {
	type result struct {
		cfg *config.Config
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		if path == "" {
			r.cfg, r.err = config.Parse(configs.DefaultName, configs.Default)
		} else {
			r.cfg, r.err = config.Load(path)
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.cfg, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("stopped while loading the configuration: %w", ctx.Err())
	}
}

func probeURL(url string, stderr io.Writer) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "secretbrokerd: probe: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "secretbrokerd: probe: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}

func (d *daemon) newLogger() (*slog.Logger, *slog.LevelVar, error) {
	level := d.logLevel
	if level == "" {
		level = d.cfg.Server.LogLevel
	}
	lv := new(slog.LevelVar)
	if level != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, nil, fmt.Errorf("log level %q is not known (write debug, info, warn or error)", level)
		}
		lv.Set(l)
	}
	return slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: lv})), lv, nil
}

// resolveDataDir finds, creates (0700) and checks the data directory: a
// directory that group or others can write is refused.
func (d *daemon) resolveDataDir() (string, error) {
	dir := d.dataDirFlag
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
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("data directory %s is writable by group or others (mode %04o): run chmod go-w %s", dir, fi.Mode().Perm(), dir)
	}
	if err := checkOwner(dir, fi); err != nil {
		return "", err
	}
	return dir, nil
}
