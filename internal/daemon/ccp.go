package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/broker/ccp"
	"github.com/secretbroker/secretbroker/internal/config"
)

// startCCP serves the CyberArk CCP-compatible endpoint (the ccp section)
// over mutual TLS and returns its server, whose Addr is the address it
// listens on (the real port when ccp.listen ends in :0). Callers are
// identified by their client certificate only, so the endpoint refuses to
// start without ccp.tls and its client_ca_file. The certificate files are
// reloaded when they change; the Safes, web service and listen address take
// effect at the next start. Stop it with Shutdown.
func startCCP(cfg *config.CCP, dataDir string, b *atomic.Pointer[broker.Broker], log *slog.Logger) (*http.Server, error) {
	if cfg == nil {
		return nil, errors.New("ccp: no ccp section")
	}
	if cfg.TLS == nil || cfg.TLS.CertFile == "" || cfg.TLS.KeyFile == "" {
		return nil, errors.New("ccp.tls: the CCP endpoint identifies applications by client certificate: set ccp.tls.cert_file, key_file and client_ca_file")
	}
	if cfg.TLS.ClientCAFile == "" {
		return nil, errors.New("ccp.tls.client_ca_file is required: the CCP endpoint identifies applications by client certificate (the AppID alone proves nothing), so it needs the CA that issues them")
	}
	network, addr, err := config.SplitListen(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ccp.listen: %w", err)
	}
	if network != "tcp" {
		return nil, fmt.Errorf("ccp.listen: %s: the CCP endpoint listens on TCP (host:port) with TLS", cfg.Listen)
	}
	h, err := ccp.New(ccp.Options{Broker: b, WebService: cfg.WebService, Safes: cfg.Safes, AutoLoginSafe: cfg.AutoLoginSafe, Logger: log})
	if err != nil {
		return nil, err
	}
	r, err := auth.NewCertReloader(config.InDir(dataDir, cfg.TLS.CertFile), config.InDir(dataDir, cfg.TLS.KeyFile), config.InDir(dataDir, cfg.TLS.ClientCAFile),
		auth.WithCertReloadHook(func(err error) {
			if err != nil {
				log.Error("ccp.tls files changed but could not be loaded; keeping the previous ones", "error", err)
			} else {
				log.Info("ccp.tls certificate files reloaded")
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("ccp.tls: %w", err)
	}
	tlsCfg := r.TLSConfig()
	// TLSConfig requires and verifies client certificates when a client CA
	// is loaded; say so here too, so that no change there opens the
	// endpoint to callers without one.
	get := tlsCfg.GetConfigForClient
	tlsCfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := get(hello)
		if err != nil {
			return nil, err
		}
		if c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
			return nil, errors.New("ccp: no client CA loaded; refusing the connection")
		}
		return c, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ccp.listen: listening on %s: %w", addr, err)
	}
	srv := &http.Server{
		Addr:              lis.Addr().String(),
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// Refused handshakes (scanners, clients without a certificate)
		// are routine: info, not error.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}
	go func() {
		if err := srv.Serve(tls.NewListener(lis, tlsCfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ccp listener stopped", "error", err)
		}
	}()
	log.Info("ccp endpoint listening", "listen", srv.Addr, "web_service", webService(cfg.WebService))
	return srv, nil
}

func webService(ws string) string {
	if ws == "" {
		return ccp.DefaultWebService
	}
	return ws
}
