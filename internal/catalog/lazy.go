package catalog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// lazy is a provider whose driver is built in the background, so that
// start-up and reloads never wait on a vault: until the driver exists every
// call answers Unavailable, and a failed build is retried with backoff until
// it succeeds or the provider is closed.
type lazy struct {
	name, kind string
	writable   bool
	build      func(ctx context.Context) (providers.Provider, error)
	log        *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	settled chan struct{} // closed when the first build has succeeded or failed
	settle  sync.Once

	mu      sync.RWMutex
	driver  providers.Provider
	lastErr error
}

// newLazy starts building the driver at once, in the background.
func newLazy(name, kind string, writable bool, build func(context.Context) (providers.Provider, error), log *slog.Logger) *lazy {
	ctx, cancel := context.WithCancel(context.Background())
	l := &lazy{name: name, kind: kind, writable: writable, build: build, log: log, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), settled: make(chan struct{})}
	go l.run()
	return l
}

func (l *lazy) run() {
	defer close(l.done)
	defer l.settle.Do(func() { close(l.settled) })
	delay := 500 * time.Millisecond
	for {
		p, err := l.build(l.ctx)
		if err == nil {
			l.mu.Lock()
			l.driver, l.lastErr = p, nil
			l.mu.Unlock()
			if l.ctx.Err() != nil { // closed while building
				_ = p.Close()
			}
			l.settle.Do(func() { close(l.settled) })
			l.log.Info("provider ready", "provider", l.name, "kind", l.kind)
			return
		}
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
		l.settle.Do(func() { close(l.settled) })
		l.log.Error("provider could not start; retrying", "provider", l.name, "kind", l.kind, "error", err, "retry_in", delay)
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// wait waits until the first build has succeeded or failed, or ctx ends;
// it reports whether the driver is ready.
func (l *lazy) wait(ctx context.Context) bool {
	select {
	case <-l.settled:
	case <-ctx.Done():
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.driver != nil
}

// get returns the driver. While the first build is still running it waits
// for it (bounded by ctx), so that requests arriving just after start-up
// are served rather than refused; after a failed build it answers at once.
func (l *lazy) get(ctx context.Context) (providers.Provider, error) {
	l.wait(ctx)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.driver != nil {
		return l.driver, nil
	}
	if l.lastErr != nil {
		return nil, providers.Errorf(providers.Unavailable, l.lastErr, "provider %q could not start (see the daemon's log)", l.name)
	}
	return nil, providers.Errorf(providers.Unavailable, nil, "provider %q is still starting", l.name)
}

func (l *lazy) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return p.Get(ctx, ref)
}

func (l *lazy) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	if !l.writable {
		return providers.NotWritable(l.kind)
	}
	p, err := l.get(ctx)
	if err != nil {
		return err
	}
	return p.Put(ctx, ref, s)
}

func (l *lazy) Delete(ctx context.Context, ref providers.Ref) error {
	if !l.writable {
		return providers.NotWritable(l.kind)
	}
	p, err := l.get(ctx)
	if err != nil {
		return err
	}
	return p.Delete(ctx, ref)
}

func (l *lazy) Writable() bool { return l.writable }

func (l *lazy) Check(ctx context.Context) error {
	p, err := l.get(ctx)
	if err != nil {
		return err
	}
	return p.Check(ctx)
}

func (l *lazy) Close() error {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.driver == nil {
		return nil
	}
	err := l.driver.Close()
	l.driver = nil
	return err
}
