package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// BenchmarkHit measures a cache hit from parallel goroutines: with one shard
// (under 512 entries, one mutex) and with 16.
func BenchmarkHit(b *testing.B) {
	for _, maxEntries := range []int{256, 10000} {
		f := newFake(false)
		c, err := New(Options{TTL: time.Hour, MaxEntries: maxEntries})
		if err != nil {
			b.Fatal(err)
		}
		p := c.Middleware()(f)
		refs := make([]providers.Ref, 64)
		for i := range refs {
			refs[i] = providers.Ref{Location: "Safe", Name: fmt.Sprintf("robot_%02d", i)}
			f.seed(refs[i], &providers.Secret{Attributes: map[string]string{
				"username": "svc-robot", "password": "0123456789abcdef", "domain": "ACME"}})
			if _, err := p.Get(context.Background(), refs[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("shards=%d", len(c.shards)), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := p.Get(ctx, refs[i%len(refs)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
		if n := f.gets.Load(); n != int64(len(refs)) {
			b.Fatalf("vault reads %d, want %d", n, len(refs))
		}
	}
}
