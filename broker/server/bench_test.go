package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/broker"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
)

// The benchmarks measure what the daemon adds to a read. The baseline is
// the reference provider's own Get; the others go through the cache, the
// broker (policy, naming, audit line to a file) and through gRPC on an
// in-memory connection. Compare them as ratios in one run:
//
//	go test -run '^$' -bench . -benchmem ./broker/server/
func BenchmarkBaselineProviderGet(b *testing.B) {
	f := newFixture(b)
	f.mem.Seed(providers.Ref{Name: "accounting_erp"}, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": "pw"}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.mem.Get(ctx, providers.Ref{Name: "accounting_erp"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHit is a hit of the cache middleware alone.
func BenchmarkCacheHit(b *testing.B) {
	f := newFixture(b)
	f.mem.Seed(providers.Ref{Name: "accounting_erp"}, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": "pw"}})
	p := f.stack
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Get(ctx, providers.Ref{Name: "accounting_erp"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrokerCacheHit is a whole broker request served from the cache:
// validation, policy decision, naming, the cache, the audit line.
func BenchmarkBrokerCacheHit(b *testing.B) {
	f := newFixture(b)
	f.mem.Seed(providers.Ref{Name: "accounting_erp"}, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": "pw"}})
	br := brokerOf(b, f)
	ctx := auth.NewContext(context.Background(), auth.Principal{ID: "admin", Method: auth.MethodToken})
	req := broker.Request{Locker: "finance", Credential: "erp"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.GetCredential(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGRPCGetCredential is the whole gRPC handler, cache hit, with
// the fallback from the user-defined to the system credential (two
// lookups, the first a cached NotFound).
func BenchmarkGRPCGetCredential(b *testing.B) {
	f := newFixture(b)
	f.mem.Seed(providers.Ref{Name: "accounting_erp"}, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": "pw"}})
	ctx := metadata.AppendToOutgoingContext(context.Background(), testIdentity, "admin")
	req := &pb.GetCredentialRequest{Locker: "finance", Credential: "erp", Username: `ABCD\user123`}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.client.GetCredential(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func brokerOf(b *testing.B, f *fixture) *broker.Broker {
	b.Helper()
	// The service holds the broker; a direct call goes through the same one.
	return f.broker
}
