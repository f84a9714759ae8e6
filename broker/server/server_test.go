package server

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/broker"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/policy"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cache"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// fixture is a real broker (policy, audit file, a cache over the reference
// Memory provider) behind the gRPC service, on an in-memory connection; a
// test interceptor stands for the authentication of package grpcauth and
// takes the identity from the "x-test-identity" metadata.
type fixture struct {
	mem    *providertest.Memory
	cache  *cache.Cache
	client pb.SecretBrokerClient
	conn   *grpc.ClientConn
	audit  string
	broker *broker.Broker
	stack  providers.Provider
}

const testIdentity = "x-test-identity"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{mem: providertest.NewMemory()}
	var err error
	if f.cache, err = cache.New(cache.Options{TTL: time.Minute, NegativeTTL: time.Second, MaxEntries: 1000, StaleGrace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(policy.Config{Clients: []policy.Client{
		{Name: "admin", Identities: []string{"admin"}, Operations: []string{"credential", "autologin", "resolve", "list", "write", "check", "admin"}, Lockers: []string{"*"}},
		{Name: "bot", Identities: []string{"bot"}, Operations: []string{"credential", "list"}, Lockers: []string{"finance"}, Usernames: []string{`ABCD\bot-*`}},
		{Name: "slow", Identities: []string{"slow"}, Operations: []string{"credential"}, Lockers: []string{"finance"}, RateLimit: &policy.RateLimit{RPS: 0.001, Burst: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.audit = filepath.Join(t.TempDir(), "audit.log")
	al, err := audit.Open(audit.Options{Path: f.audit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	s, _ := naming.NewScheme(naming.Embedded, naming.Options{})
	f.stack = providers.Chain(f.mem, f.cache.Middleware())
	b, err := broker.New(broker.Options{
		Providers:  []broker.Provider{{Name: "store", Provider: f.stack, Scheme: s, Cache: f.cache}},
		Lockers:    []broker.Locker{{Name: "finance", Places: []broker.Place{{Provider: "store", Prefix: "accounting"}}}},
		AutoLogin:  &broker.AutoLogin{Provider: "store"},
		Authorizer: pol,
		Auditor:    al,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.broker = b
	var ptr atomic.Pointer[broker.Broker]
	ptr.Store(b)
	lis := bufconn.Listen(1 << 20)
	identify := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(testIdentity)) > 0 {
			ctx = auth.NewContext(ctx, auth.Principal{ID: md.Get(testIdentity)[0], Method: auth.MethodToken})
		}
		return h(ctx, req)
	}
	g := grpc.NewServer(grpc.ForceServerCodecV2(NewCodec()), grpc.ChainUnaryInterceptor(identify, ValidateUnary()))
	New(&ptr, nil).Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	f.conn, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Close() })
	f.client = pb.NewSecretBrokerClient(f.conn)
	return f
}

func as(who string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), testIdentity, who)
}

func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if status.Code(err) != code || status.Convert(err).Message() != msg {
		t.Fatalf("got %v\nwant %v: %s", err, code, msg)
	}
}

func TestCodesAndMessages(t *testing.T) {
	f := newFixture(t)
	f.mem.Seed(providers.Ref{Name: "accounting_erp"}, &providers.Secret{Attributes: map[string]string{"username": "svc", "password": "pw-1"}})
	_, err := f.client.GetCredential(as("admin"), &pb.GetCredentialRequest{Locker: "finance", Credential: "missing"})
	wantStatus(t, err, codes.NotFound, `get credential "missing" in locker "finance": no secret with that name (tried SYSTEM "accounting_missing" in provider "store" (embedded))`)
	_, err = f.client.GetCredential(as("bot"), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp", Username: `ABCD\user123`})
	wantStatus(t, err, codes.PermissionDenied, `get credential "erp" in locker "finance" for user "ABCD\\user123": credential is not granted to "bot" for user "ABCD\\user123"`)
	_, err = f.client.GetCredential(context.Background(), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"})
	wantStatus(t, err, codes.PermissionDenied, `get credential "erp" in locker "finance": no authenticated caller`)
	// Over its rate limit, with the retry delay in a trailer.
	if _, err := f.client.GetCredential(as("slow"), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"}); err != nil {
		t.Fatal(err)
	}
	var trailer metadata.MD
	_, err = f.client.GetCredential(as("slow"), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted || len(trailer.Get(RetryAfterHeader)) != 1 {
		t.Fatalf("got %v, trailer %v", err, trailer)
	}
	// The vault failing: its inner text never reaches the caller.
	f.mem.SetFault(providers.Errorf(providers.PermissionDenied, io.ErrUnexpectedEOF, "the vault refused the daemon's identity"))
	_, err = f.client.GetCredential(as("admin"), &pb.GetCredentialRequest{Locker: "finance", Credential: "other"})
	if status.Code(err) != codes.PermissionDenied || strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("got %v", err)
	}
}

func TestInvalidUTF8IsInvalidArgument(t *testing.T) {
	f := newFixture(t)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendString(req, "fin\xffance")
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendString(req, "erp")
	var out []byte
	err := f.conn.Invoke(as("admin"), "/secretbroker.v1.SecretBroker/GetCredential", req, &out, grpc.ForceCodec(rawCodec{}))
	wantStatus(t, err, codes.InvalidArgument, "field locker is not valid UTF-8")
}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *(v.(*[]byte)) = data; return nil }
func (rawCodec) Name() string                       { return "proto" }

func TestCacheStaleBypassAndInvalidate(t *testing.T) {
	f := newFixture(t)
	ref := providers.Ref{Name: "accounting_erp"}
	f.mem.Seed(ref, &providers.Secret{Attributes: map[string]string{"password": "old"}})
	get := func(fresh bool) *pb.GetCredentialResponse {
		t.Helper()
		r, err := f.client.GetCredential(as("admin"), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp", BypassCache: fresh})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	get(false)
	f.mem.Seed(ref, &providers.Secret{Attributes: map[string]string{"password": "rotated"}})
	if r := get(false); r.Credential.Attributes["password"] != "old" {
		t.Fatal("not served from the cache")
	}
	if r := get(true); r.Credential.Attributes["password"] != "rotated" {
		t.Fatal("bypass_cache did not reach the vault")
	}
	f.mem.Seed(ref, &providers.Secret{Attributes: map[string]string{"password": "third"}})
	n, err := f.client.InvalidateCache(as("admin"), &pb.InvalidateCacheRequest{Locker: "finance"})
	if err != nil || n.Dropped != 1 {
		t.Fatalf("invalidate: %v %v", n, err)
	}
	if r := get(false); r.Credential.Attributes["password"] != "third" {
		t.Fatal("invalidation did not drop the entry")
	}
	_, err = f.client.InvalidateCache(as("bot"), &pb.InvalidateCacheRequest{All: true})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a bot invalidated the cache: %v", err)
	}
	// Presence, never values.
	pr, err := f.client.CheckCredentials(as("admin"), &pb.CheckCredentialsRequest{Locker: "finance", Credential: "erp", Username: "u"})
	if err != nil || len(pr.Presence) != 2 || pr.Presence[0].Exists || pr.Presence[0].Code != "NotFound" || !pr.Presence[1].Exists {
		t.Fatalf("check: %v %v", pr, err)
	}
	if strings.Contains(pr.String(), "third") {
		t.Fatal("CheckCredentials returned a value")
	}
}

func TestPutAndBinary(t *testing.T) {
	f := newFixture(t)
	_, err := f.client.PutCredential(as("admin"), &pb.PutCredentialRequest{Locker: "finance", Credential: "x", Username: `ABCD\u`,
		Attributes: map[string]string{"a": "1"}, BinaryAttributes: map[string][]byte{"a": {1}}})
	wantStatus(t, err, codes.InvalidArgument, "an attribute is given both as text and as binary")
	put, err := f.client.PutCredential(as("admin"), &pb.PutCredentialRequest{Locker: "finance", Credential: "x", Username: `ABCD\u`,
		BinaryAttributes: map[string][]byte{"blob": {0xff, 0}}})
	if err != nil || put.Source.SecretName != "accounting_x_ABCD--u" || put.Scope != pb.Scope_SCOPE_USER {
		t.Fatalf("put: %v %v", put, err)
	}
	got, err := f.client.GetCredential(as("admin"), &pb.GetCredentialRequest{Locker: "finance", Credential: "x", Username: `ABCD\u`})
	if err != nil || string(got.Credential.BinaryAttributes["blob"]) != "\xff\x00" {
		t.Fatalf("get: %v %v", got, err)
	}
	ls, err := f.client.ListLockers(as("bot"), &pb.ListLockersRequest{})
	if err != nil || len(ls.Lockers) != 1 || len(ls.Lockers[0].Places) != 1 || ls.Lockers[0].Places[0].Prefix != "accounting" {
		t.Fatalf("lockers: %v %v", ls, err)
	}
}
