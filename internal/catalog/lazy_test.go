package catalog

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// A request that arrives while the driver is still being built waits for
// the build (within its deadline); a failed build answers Unavailable at
// once and is retried in the background.
func TestLazyDriver(t *testing.T) {
	mem := providertest.NewMemory()
	mem.Seed(providers.Ref{Name: "n"}, &providers.Secret{Attributes: map[string]string{"password": "pw"}})
	release := make(chan struct{})
	l := newLazy("p", "memory", true, func(ctx context.Context) (providers.Provider, error) {
		select {
		case <-release:
			return mem, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, slog.New(slog.DiscardHandler))
	defer l.Close()

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Get(short, providers.Ref{Name: "n"}); providers.CodeOf(err) != providers.Unavailable {
		t.Fatalf("before the build: %v, want Unavailable (still starting)", err)
	}
	close(release)
	s, err := l.Get(context.Background(), providers.Ref{Name: "n"})
	if err != nil || s.Attributes["password"] != "pw" {
		t.Fatalf("after the build: %v %v", s, err)
	}

	attempts := make(chan struct{}, 10)
	bad := newLazy("q", "memory", false, func(ctx context.Context) (providers.Provider, error) {
		attempts <- struct{}{}
		return nil, errors.New("refused credentials")
	}, slog.New(slog.DiscardHandler))
	defer bad.Close()
	_, err = bad.Get(context.Background(), providers.Ref{Name: "n"})
	if providers.CodeOf(err) != providers.Unavailable || providers.ReasonOf(err) != `provider "q" could not start (see the daemon's log)` {
		t.Fatalf("failed build: %v", err)
	}
	if err := bad.Put(context.Background(), providers.Ref{Name: "n"}, &providers.Secret{}); providers.CodeOf(err) != providers.FailedPrecondition {
		t.Fatalf("put on a read-only lazy provider: %v", err)
	}
	select { // the build is tried again in the background
	case <-attempts:
	case <-time.After(10 * time.Second):
		t.Fatal("no first attempt")
	}
	select {
	case <-attempts:
	case <-time.After(10 * time.Second):
		t.Fatal("the failed build was not retried")
	}
}
