package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/auth/grpcauth"
	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/broker/server"
	"github.com/secretbroker/secretbroker/internal/catalog"
	"github.com/secretbroker/secretbroker/internal/config"
	"github.com/secretbroker/secretbroker/internal/metrics"
	"github.com/secretbroker/secretbroker/policy"
)

type daemon struct {
	cfgPath                           string
	cfg                               *config.Config
	dataDirFlag, listenFlag, logLevel string
	adminFlag                         string
	stdout, stderr                    io.Writer
	hup                               <-chan os.Signal

	log      *slog.Logger
	level    *slog.LevelVar
	dataDir  string
	adminTok string
	metrics  *metrics.Metrics
	cat      *catalog.Catalog
	audit    *audit.Log
	health   *health.Server

	reloadMu sync.Mutex
	current  atomic.Pointer[config.Config]
	broker   atomic.Pointer[broker.Broker]
	authn    atomic.Pointer[authenticator]
	ready    atomic.Bool

	provMu    sync.Mutex
	lastOK    map[string]time.Time
	provState map[string]error
	provReady map[string]bool
}

// authenticator holds an Authenticator's interceptors, swapped on reload.
type authenticator struct {
	unary  grpc.UnaryServerInterceptor
	stream grpc.StreamServerInterceptor
}

func (d *daemon) run(ctx context.Context) error {
	var err error
	if d.log, d.level, err = d.newLogger(); err != nil {
		return err
	}
	d.log.Info("secretbrokerd starting", "version", version(), "config", d.cfg.File())
	if d.dataDir, err = d.resolveDataDir(); err != nil {
		return err
	}
	d.metrics = metrics.New()
	auditPath := d.cfg.Audit.Path
	if auditPath == "" {
		auditPath = "audit.log"
	}
	if d.audit, err = audit.Open(audit.Options{Path: config.InDir(d.dataDir, auditPath), Writer: d.stdout}); err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	defer d.audit.Close()
	d.cat = catalog.New(catalog.Options{Logger: d.log, Observer: catalogObserver{d.metrics}})
	defer func() {
		if err := d.cat.Close(); err != nil {
			d.log.Error("closing providers", "error", err)
		}
	}()
	if _, _, err := d.apply(ctx, d.cfg); err != nil {
		return err
	}

	listen := d.listenFlag
	if listen == "" {
		listen = d.cfg.Listen()
	}
	lis, creds, err := d.listen(listen)
	if err != nil {
		return err
	}
	g := d.grpcServer(creds)
	server.New(&d.broker, reloaderFunc(d.reload)).Register(g)
	d.health = health.NewServer()
	healthpb.RegisterHealthServer(g, d.health)
	if d.cfg.Reflection() {
		reflection.Register(g)
	}
	d.metrics.InitializeGRPC(g)
	d.setServing(false)

	admin, err := d.startAdmin()
	if err != nil {
		lis.Close()
		return err
	}
	var ccpSrv *http.Server
	if d.cfg.CCP != nil {
		if ccpSrv, err = startCCP(d.cfg.CCP, d.dataDir, &d.broker, d.log); err != nil {
			lis.Close()
			if admin != nil {
				admin.Close()
			}
			return err
		}
		fmt.Fprintf(d.stdout, "secretbrokerd CCP endpoint on https://%s/%s/api/Accounts\n", ccpSrv.Addr, ccpWebService(d.cfg.CCP))
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	addr := lis.Addr().String()
	if _, ok := lis.Addr().(*net.UnixAddr); ok {
		addr = "unix:" + addr
	}
	fmt.Fprintf(d.stdout, "secretbrokerd listening on %s (config %s, data %s)\n", addr, d.cfg.File(), d.dataDir)
	d.log.Info("serving", "listen", addr, "config", d.cfg.File(), "data_dir", d.dataDir, "version", version())

	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	go d.healthLoop(hctx)
	var watch <-chan time.Time
	if d.cfg.Server.ReloadOnChange && d.cfgPath != "" {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		watch = t.C
	}
	stamp := fileStamp(d.cfgPath)
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serving: %w", err)
		case <-d.hup:
			d.log.Info("SIGHUP: reloading the configuration and reopening the audit file")
			if err := d.audit.Reopen(); err != nil {
				d.log.Error("reopening the audit file", "error", err)
			}
			_, _, _, _ = d.reload(ctx)
		case <-watch:
			if s := fileStamp(d.cfgPath); s != stamp {
				stamp = s
				d.log.Info("the configuration file changed: reloading", "config", d.cfgPath)
				_, _, _, _ = d.reload(ctx)
			}
		case <-ctx.Done():
			d.shutdown(g, admin, ccpSrv)
			return nil
		}
	}
}

// shutdown stops accepting requests and drains those in flight within the
// shutdown timeout.
func (d *daemon) shutdown(g *grpc.Server, servers ...*http.Server) {
	d.log.Info("shutting down")
	d.setServing(false)
	d.health.Shutdown()
	bound := d.current.Load().Server.ShutdownTimeout
	if bound <= 0 {
		bound = 10 * time.Second
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(bound):
		d.log.Warn("requests still running at the shutdown bound; stopping them", "bound", bound)
		g.Stop()
	}
	for _, srv := range servers {
		if srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), bound)
			_ = srv.Shutdown(sctx)
			cancel()
		}
	}
}

type reloaderFunc func(ctx context.Context) (string, int, int, error)

func (f reloaderFunc) Reload(ctx context.Context) (string, int, int, error) { return f(ctx) }

// reload loads the configuration file again, validates it whole, and swaps
// it in atomically; a bad one is logged and the old one keeps serving.
func (d *daemon) reload(ctx context.Context) (string, int, int, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := load(ctx, d.cfgPath)
	if err == nil {
		var kept, built int
		if kept, built, err = d.apply(ctx, cfg); err == nil {
			d.metrics.ConfigReload(true)
			d.warnRestartOnly(cfg)
			d.log.Info("configuration reloaded", "config", cfg.File(), "providers_kept", kept, "providers_built", built)
			return cfg.File(), kept, built, nil
		}
	}
	d.metrics.ConfigReload(false)
	d.log.Error("configuration not reloaded; the previous one keeps serving", "error", err)
	return "", 0, 0, err
}

// warnRestartOnly logs the settings a reload cannot change.
func (d *daemon) warnRestartOnly(cfg *config.Config) {
	old := d.cfg
	if old.Listen() != cfg.Listen() || !reflect.DeepEqual(old.Server.TLS, cfg.Server.TLS) || old.AdminListen() != cfg.AdminListen() ||
		old.Audit != cfg.Audit || old.Server.DataDir != cfg.Server.DataDir || !reflect.DeepEqual(old.CCP, cfg.CCP) {
		d.log.Warn("server.listen, server.tls, admin.listen, audit, data_dir and ccp changes take effect at the next restart")
	}
}

// apply builds what cfg needs (providers through the catalog, tokens,
// policy, broker) and swaps it in. Nothing changes when it fails.
func (d *daemon) apply(ctx context.Context, cfg *config.Config) (kept, built int, err error) {
	tokens, pol, err := d.access(cfg)
	if err != nil {
		return 0, 0, err
	}
	a, err := grpcauth.New(grpcauth.Options{Tokens: tokens, Logger: d.log})
	if err != nil {
		return 0, 0, err
	}
	plan, err := d.cat.Prepare(ctx, cfg, d.dataDir)
	if err != nil {
		return 0, 0, err
	}
	opts := broker.Options{Providers: plan.Providers(), Timeout: cfg.Server.RequestTimeout, Authorizer: pol,
		Auditor: d.audit, AuditFailOpen: cfg.Audit.FailOpen, Observer: d.metrics, Logger: d.log}
	for _, name := range sortedKeys(cfg.Lockers) {
		l := cfg.Lockers[name]
		bl := broker.Locker{Name: name, FailoverOnNotFound: l.FailoverOnNotFound, UsernameTemplate: l.UsernameTemplate}
		for _, p := range l.PlacesOf() {
			bl.Places = append(bl.Places, broker.Place{Provider: p.Provider, Prefix: p.Prefix, Safe: p.Safe})
		}
		opts.Lockers = append(opts.Lockers, bl)
	}
	if al := cfg.AutoLogin; al != nil {
		mapping, err := loadMapping(al, d.dataDir)
		if err != nil {
			plan.Abort()
			return 0, 0, err
		}
		opts.AutoLogin = &broker.AutoLogin{Provider: al.Provider, Safe: al.Safe, Format: al.Format, Mapping: mapping, UsernameTemplate: al.UsernameTemplate}
	}
	b, err := broker.New(opts)
	if err != nil {
		plan.Abort()
		return 0, 0, &config.Error{File: cfg.File(), Msg: err.Error()}
	}
	d.authn.Store(&authenticator{unary: a.UnaryInterceptor(), stream: a.StreamInterceptor()})
	d.broker.Store(b)
	d.current.Store(cfg)
	grace := cfg.Server.RequestTimeout
	if grace <= 0 {
		grace = 30 * time.Second
	}
	plan.Commit(grace + time.Second)
	return plan.Kept, plan.Built, nil
}

// access builds the token set (with the local admin token) and the policy
// (with the local admin's implicit rule, appended last).
func (d *daemon) access(cfg *config.Config) (*auth.TokenSet, *policy.Policy, error) {
	var toks []auth.Token
	for _, t := range cfg.Auth.Tokens {
		toks = append(toks, auth.Token{Identity: t.Identity, SHA256: t.SHA256})
	}
	pc := cfg.Policy
	if cfg.LocalAdminToken() {
		if d.adminTok == "" {
			tok, created, err := auth.NewLocalAdminToken(filepath.Join(d.dataDir, "admin.token"))
			if err != nil {
				return nil, nil, fmt.Errorf("local admin token: %w", err)
			}
			if created {
				d.log.Info("created the local admin token (mode 0600); the CLI finds it there", "file", filepath.Join(d.dataDir, "admin.token"))
			}
			d.adminTok = tok
		}
		toks = append(toks, auth.Token{Identity: config.LocalAdminIdentity, SHA256: auth.HashToken(d.adminTok)})
		pc.Clients = append(append([]policy.Client(nil), pc.Clients...), policy.Client{
			Name:       "local admin token (auth.local_admin_token)",
			Identities: []string{config.LocalAdminIdentity, fmt.Sprintf("unix:uid:%d", os.Getuid())},
			Operations: []string{"autologin", "credential", "resolve", "list", "write", "check", "admin"},
			Lockers:    []string{"*"},
		})
	}
	ts, err := auth.NewTokenSet(toks)
	if err != nil {
		return nil, nil, fmt.Errorf("auth.tokens: %w", err)
	}
	pol, err := policy.New(pc)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	return ts, pol, nil
}

// listen opens the gRPC listener and says which transport credentials it
// takes: peer credentials on a unix socket, TLS (mTLS with a client CA) on
// TCP, plaintext only on loopback or behind the named override.
func (d *daemon) listen(listen string) (net.Listener, credentials.TransportCredentials, error) {
	network, addr, err := config.SplitListen(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("-listen: %w", err)
	}
	if network == "unix" {
		lis, err := auth.ListenUnix(addr, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return lis, grpcauth.UnixPeerCredentials(), nil
	}
	var creds credentials.TransportCredentials
	if t := d.cfg.Server.TLS; t != nil {
		r, err := auth.NewCertReloader(config.InDir(d.dataDir, t.CertFile), config.InDir(d.dataDir, t.KeyFile), config.InDir(d.dataDir, t.ClientCAFile),
			auth.WithCertReloadHook(func(err error) {
				if err != nil {
					d.log.Error("TLS files changed but could not be loaded; keeping the previous ones", "error", err)
				} else {
					d.log.Info("TLS certificate files reloaded")
				}
			}))
		if err != nil {
			return nil, nil, fmt.Errorf("server.tls: %w", err)
		}
		creds = credentials.NewTLS(r.TLSConfig())
	} else {
		if err := grpcauth.PlaintextAllowed(addr); err != nil {
			if !d.cfg.Server.InsecurePlaintext {
				return nil, nil, err
			}
			d.log.Warn("PLAINTEXT gRPC on a non-loopback address (server.insecure_plaintext_behind_tls_terminating_proxy): only a TLS-terminating proxy must reach it", "listen", addr)
		}
		creds = insecure.NewCredentials()
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w (is another secretbrokerd running? pass -listen)", addr, err)
	}
	return lis, creds, nil
}

func (d *daemon) grpcServer(creds credentials.TransportCredentials) *grpc.Server {
	maxMsg := d.cfg.Server.MaxRecvMessageBytes
	if maxMsg <= 0 {
		maxMsg = 1 << 20
	}
	recover := recovery.WithRecoveryHandler(func(p any) error {
		// The panic value may hold anything; only its type is logged.
		d.log.Error("panic in a request handler (recovered)", "type", fmt.Sprintf("%T", p))
		return status.Error(codes.Internal, "internal error")
	})
	unaryAuth := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return d.authn.Load().unary(ctx, req, info, h)
	}
	streamAuth := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return d.authn.Load().stream(srv, ss, info, h)
	}
	return grpc.NewServer(
		grpc.Creds(creds),
		// Workers that serve streams on warm stacks: without them each call
		// starts a goroutine whose stack grows while the request decodes
		// (about a tenth of the CPU of a cache hit, profiled at concurrency 32).
		grpc.NumStreamWorkers(uint32(16*runtime.GOMAXPROCS(0))),
		grpc.ForceServerCodecV2(server.NewCodec()),
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(recover), d.metrics.UnaryServerInterceptor(), unaryAuth, server.ValidateUnary()),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(recover), d.metrics.StreamServerInterceptor(), streamAuth),
	)
}

// startAdmin serves /metrics, /healthz and /readyz over HTTP (loopback by
// default; they hold no secret).
func (d *daemon) startAdmin() (*http.Server, error) {
	addr := d.cfg.AdminListen()
	switch d.adminFlag {
	case "":
	case "off":
		addr = ""
	default:
		addr = d.adminFlag
	}
	if addr == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.metrics.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", d.readyz)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener on %s: %w (set admin.listen, or admin.listen: off)", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin listener stopped", "error", err)
		}
	}()
	fmt.Fprintf(d.stdout, "secretbrokerd admin (metrics, health) on http://%s\n", lis.Addr())
	d.log.Info("admin listener", "listen", lis.Addr().String())
	return srv, nil
}

func fileStamp(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}

func ccpWebService(c *config.CCP) string {
	if c.WebService != "" {
		return c.WebService
	}
	return "AIMWebService"
}
