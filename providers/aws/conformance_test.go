package aws

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/aws/awstest"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// newServer starts a fake Secrets Manager and points the SDK's default
// credential chain (environment variables) at its credentials.
func newServer(t *testing.T) *awstest.Server {
	t.Helper()
	srv := awstest.NewServer(t, awstest.Options{})
	srv.SetEnv(t)
	return srv
}

// testConfig is a provider configuration for srv with one attempt per call,
// so that no test waits on the SDK's backoff.
func testConfig(srv *awstest.Server) Config {
	return Config{
		Region:          srv.Region(),
		Endpoint:        srv.URL(),
		MaxAttempts:     1,
		RetryMaxBackoff: 10 * time.Millisecond,
	}
}

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// harness runs the conformance suite against the fake server, with the
// provider configured through the real SDK credential chain and a name path.
type harness struct {
	t   *testing.T
	srv *awstest.Server
}

var (
	_ providertest.FaultHarness    = (*harness)(nil)
	_ providertest.ReadOnlyHarness = (*harness)(nil)
)

const harnessPath = "rpa/"

func (h *harness) Kind() string     { return naming.AWS }
func (h *harness) Location() string { return "" }
func (h *harness) Close()           { h.srv.Close() }

func (h *harness) config() Config {
	cfg := testConfig(h.srv)
	cfg.NamePath = harnessPath
	cfg.Writable = true
	return cfg
}

func (h *harness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return New(ctx, h.config())
}

func (h *harness) MakeReadOnlyProvider(ctx context.Context) (providers.Provider, error) {
	cfg := h.config()
	cfg.Writable = false
	return New(ctx, cfg)
}

// Seed stores the attributes as a SecretString JSON object, the way the
// console and the AWS CLI store credentials.
func (h *harness) Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	b, err := json.Marshal(s.Attributes)
	if err != nil {
		return err
	}
	h.srv.Seed(harnessPath+ref.Name, string(b))
	return nil
}

func (h *harness) MakeFaultyProvider(ctx context.Context, fault providertest.Fault) (providers.Provider, error) {
	cfg := h.config()
	switch fault {
	case providertest.Denied, providertest.Hung:
		// A second server with the same credentials, so the fault does not
		// reach the suite's other providers.
		key, secret := h.srv.Credentials()
		other := awstest.NewServer(h.t, awstest.Options{Region: h.srv.Region(), AccessKeyID: key, SecretAccessKey: secret})
		if fault == providertest.Denied {
			other.SetFault(awstest.Denied)
		} else {
			other.SetFault(awstest.Hung)
		}
		cfg.Endpoint = other.URL()
	case providertest.Down:
		cfg.Endpoint = closedPortURL(h.t)
	default:
		return nil, providertest.ErrUnsupported
	}
	return New(ctx, cfg)
}

// closedPortURL returns an http URL on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestConformance(t *testing.T) {
	srv := newServer(t)
	// Values are JSON strings in a SecretString, so they are UTF-8; binary
	// values are covered by TestGetValueShapes and TestPut.
	providertest.Run(t, &harness{t: t, srv: srv}, providertest.Options{BinaryValues: false})
}
