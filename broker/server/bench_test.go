package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/naming"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/embedded"
)

// The benchmarks measure what the daemon adds to a read: the baseline is
// the embedded store's own Get; the others go through the broker and
// through gRPC (in-memory connection) to the same store. Compare them as
// ratios in one run: go test -run '^$' -bench . ./broker/server/
func benchStore(b *testing.B) (*embedded.Provider, *broker.Broker) {
	dir := b.TempDir()
	p, err := embedded.New(context.Background(), embedded.Config{Path: filepath.Join(dir, "s.db"),
		KeyFile: filepath.Join(dir, "s.key"), Create: true})
	if err != nil {
		b.Fatal(err)
	}
	s, _ := naming.NewScheme(naming.Embedded, naming.Options{})
	br, err := broker.New(broker.Options{
		Backends: []broker.Backend{{Name: "store", Provider: p, Scheme: s, Writable: true}},
		Lockers:  []broker.Locker{{Name: "finance", Backend: "store", Prefix: "accounting"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	attrs := map[string]string{"username": "svc", "password": "pw", "domain": "ACME"}
	if err := p.Put(context.Background(), providers.Ref{Name: "accounting_pdf"}, &providers.Secret{Attributes: attrs}); err != nil {
		b.Fatal(err)
	}
	return p, br
}

func BenchmarkBaselineStoreGet(b *testing.B) {
	p, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Get(ctx, providers.Ref{Name: "accounting_pdf"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrokerFallback reads a user-defined credential that does not
// exist, so every call reads twice (user, then system).
func BenchmarkBrokerFallback(b *testing.B) {
	_, br := benchStore(b)
	ctx := context.Background()
	req := broker.Request{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.GetCredential(ctx, req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGRPCGetCredential(b *testing.B) {
	_, br := benchStore(b)
	c := client(b, br)
	ctx := context.Background()
	req := &pb.GetCredentialRequest{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetCredential(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
