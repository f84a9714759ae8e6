package cyberark_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/cyberark/cyberarktest"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// quiet discards provider log lines in tests.
var quiet = slog.New(slog.DiscardHandler)

// startServer starts a fake CCP that stops with the test.
func startServer(t *testing.T) *cyberarktest.Server {
	t.Helper()
	srv, err := cyberarktest.New(cyberarktest.Options{})
	if err != nil {
		t.Fatalf("cyberarktest.New: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// baseConfig is a working configuration for srv, with tiny backoffs.
func baseConfig(srv *cyberarktest.Server) cyberark.Config {
	return cyberark.Config{
		URL:   srv.URL(),
		AppID: srv.AppID(),
		TLS: cyberark.TLSConfig{ClientCertFile: srv.ClientCertFile(), ClientKeyFile: srv.ClientKeyFile(),
			CAFile: srv.CAFile()},
		Timeout:     10 * time.Second,
		MaxAttempts: 3,
		Backoff:     time.Millisecond,
		Logger:      quiet,
	}
}

type harness struct {
	srv *cyberarktest.Server

	mu     sync.Mutex
	extras []*cyberarktest.Server
}

func (h *harness) Kind() string     { return naming.CyberArk }
func (h *harness) Location() string { return "finance" }

func (h *harness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return cyberark.New(ctx, baseConfig(h.srv))
}

func (h *harness) Seed(_ context.Context, ref providers.Ref, s *providers.Secret) error {
	h.srv.Seed(ref.Location, ref.Name, cyberarktest.PropertiesFromAttributes(s.Attributes))
	return nil
}

func (h *harness) Close() {
	h.srv.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.extras {
		s.Close()
	}
}

func (h *harness) MakeFaultyProvider(ctx context.Context, fault providertest.Fault) (providers.Provider, error) {
	switch fault {
	case providertest.Denied, providertest.Hung:
		srv, err := cyberarktest.New(cyberarktest.Options{})
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		h.extras = append(h.extras, srv)
		h.mu.Unlock()
		if fault == providertest.Denied {
			srv.SetFault(cyberarktest.Denied)
		} else {
			srv.SetFault(cyberarktest.Hung)
		}
		return cyberark.New(ctx, baseConfig(srv))
	case providertest.Down:
		cfg := baseConfig(h.srv)
		cfg.URL = "https://" + closedAddr()
		return cyberark.New(ctx, cfg)
	}
	return nil, providertest.ErrUnsupported
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConformance(t *testing.T) {
	srv, err := cyberarktest.New(cyberarktest.Options{})
	if err != nil {
		t.Fatalf("cyberarktest.New: %v", err)
	}
	providertest.Run(t, &harness{srv: srv}, providertest.Options{BinaryValues: false})
}
