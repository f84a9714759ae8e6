package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/secretbroker/secretbroker/providers"
)

func benchStore(b *testing.B) *Provider {
	b.Helper()
	dir := b.TempDir()
	p, err := New(context.Background(), Config{
		Path: filepath.Join(dir, "store.db"), KeyFile: filepath.Join(dir, "store.key"), Create: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

var benchSecret = &providers.Secret{Attributes: map[string]string{
	"username": "ABCD\\svc-rpa-bot", "password": "c0rrect-h0rse-battery-staple!", "domain": "ABCD",
}}

// BenchmarkGet reads one of 1000 stored secrets: a read transaction, a copy,
// AES-GCM open and decoding.
func BenchmarkGet(b *testing.B) {
	p := benchStore(b)
	ctx := context.Background()
	const n = 1000
	refs := make([]providers.Ref, n)
	for i := range refs {
		refs[i] = providers.Ref{Name: fmt.Sprintf("accounting_cred%04d", i)}
		if err := p.Put(ctx, refs[i], benchSecret); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Get(ctx, refs[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut overwrites one of 100 secrets: a write transaction synced to
// disk, so it measures the file system's fsync as much as the store.
func BenchmarkPut(b *testing.B) {
	p := benchStore(b)
	ctx := context.Background()
	const n = 100
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.Put(ctx, providers.Ref{Name: fmt.Sprintf("accounting_cred%04d", i%n)}, benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}
