package embedded

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// harness runs the conformance suite against one store file. bbolt lets
// only one handle per process open a file for writing, so the harness keeps
// one open Provider: Seed writes through it (Put is the store's own means of
// writing), and MakeProvider hands out views of it whose Close does nothing,
// so the suite's "second provider" sees the first one's writes as a second
// handle on the same store would. Opening the same file again after Close
// is tested in TestReopen.
type harness struct {
	p *Provider
}

var (
	_ providertest.FaultHarness    = (*harness)(nil)
	_ providertest.ReadOnlyHarness = (*harness)(nil)
)

// sharedProvider is a Provider the suite may Close without closing the store.
type sharedProvider struct {
	*Provider
}

func (sharedProvider) Close() error { return nil }

func (h *harness) Kind() string     { return naming.Embedded }
func (h *harness) Location() string { return "" }

func (h *harness) MakeProvider(ctx context.Context) (providers.Provider, error) {
	return sharedProvider{h.p}, nil
}

func (h *harness) Seed(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	return h.p.Put(ctx, ref, s)
}

func (h *harness) Close() { h.p.Close() }

// MakeReadOnlyProvider returns a Provider on the same open file with
// readOnly set, as New sets it for writable: false (bbolt's file lock keeps
// a second, read-only handle out of a process that holds the writer; see
// TestReadOnly for a store opened read-only).
func (h *harness) MakeReadOnlyProvider(ctx context.Context) (providers.Provider, error) {
	return sharedProvider{&Provider{db: h.p.db, aead: h.p.aead, path: h.p.path, readOnly: true}}, nil
}

// MakeFaultyProvider supports no fault: a local file has no identity to
// deny (the key file's mode is checked by New, see TestKeyFilePermissions),
// no server to be down (a missing file is an error from New, see
// TestMissingStore), and no server to hang (a lock held by another process
// is reported by New after open_timeout, see TestInUse; a request never
// waits on it).
func (h *harness) MakeFaultyProvider(ctx context.Context, fault providertest.Fault) (providers.Provider, error) {
	return nil, providertest.ErrUnsupported
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	p, err := New(context.Background(), Config{
		Path:    filepath.Join(dir, "store.db"),
		KeyFile: filepath.Join(dir, "store.key"),
		Create:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, &harness{p: p}, providertest.Options{BinaryValues: true})
}
