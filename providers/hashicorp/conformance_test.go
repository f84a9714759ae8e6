package hashicorp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// harness runs the conformance suite against the fake Vault (KV v2 at
// "secret", detected at the first connection). The real server runs the
// suite in test/integration.
type harness struct {
	t *testing.T
	f *fakeVault
}

var (
	_ providertest.FaultHarness    = (*harness)(nil)
	_ providertest.ReadOnlyHarness = (*harness)(nil)
)

func (h *harness) Kind() string     { return naming.HashiCorp }
func (h *harness) Location() string { return "" }
func (h *harness) Close()           {}

func (h *harness) config() Config {
	cfg := h.f.tokenConfig(h.t)
	cfg.Writable = true
	return cfg
}

func (h *harness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return New(ctx, h.config(), nil)
}

func (h *harness) MakeReadOnlyProvider(ctx context.Context) (providers.Provider, error) {
	cfg := h.config()
	cfg.Writable = false
	return New(ctx, cfg, nil)
}

// Seed stores a KV v2 answer the way the fake keeps what Vault would
// return for the latest version.
func (h *harness) Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	data := make(map[string]any, len(s.Attributes))
	for k, v := range s.Attributes {
		data[k] = v
	}
	h.f.set(func(f *fakeVault) {
		f.data["secret/data/"+ref.Name] = map[string]any{"data": data,
			"metadata": map[string]any{"version": 1, "created_time": "2024-05-06T07:08:09Z", "deletion_time": "", "destroyed": false}}
	})
	return nil
}

func (h *harness) MakeFaultyProvider(ctx context.Context, fault providertest.Fault) (providers.Provider, error) {
	cfg := h.config()
	cfg.KVVersion = 2 // detection needs an answer
	cfg.MaxAttempts = 1
	switch fault {
	case providertest.Denied:
		// A valid token whose policy denies the mount, on a vault of its
		// own so that the suite's other providers are not denied.
		other := newFakeVault(h.t)
		other.set(func(f *fakeVault) { f.denyPrefix = "secret/" })
		cfg.Address = other.srv.URL
	case providertest.Down:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		cfg.Address = "http://" + l.Addr().String()
		l.Close()
	case providertest.Hung:
		hung := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hung:
			case <-r.Context().Done():
			}
		}))
		h.t.Cleanup(srv.Close)
		h.t.Cleanup(func() { close(hung) })
		cfg.Address = srv.URL
		cfg.Timeout = 500 * time.Millisecond
	default:
		return nil, providertest.ErrUnsupported
	}
	return New(ctx, cfg, nil)
}

func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{t: t, f: newFakeVault(t)}, providertest.Options{BinaryValues: false})
}
