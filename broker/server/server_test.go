package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/secretbroker/secretbroker/broker"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
)

// scripted is a Broker that answers with what the test sets and records the
// requests it gets: the adapter is tested on its own, mapping only.
type scripted struct {
	err    error
	secret *providers.Secret
	got    broker.Request
	put    *providers.Secret
}

func (s *scripted) GetCredential(ctx context.Context, req broker.Request, keys []string) (*broker.Result, error) {
	s.got = req
	if s.err != nil {
		return nil, s.err
	}
	return &broker.Result{Secret: s.secret, Served: broker.Candidate{Scope: broker.ScopeUser, Backend: "b", Name: "n"}}, nil
}

func (s *scripted) GetAutoLogin(ctx context.Context, username, caller string) (*broker.Result, error) {
	s.got = broker.Request{AutoLogin: true, Username: username, Caller: caller}
	if s.err != nil {
		return nil, s.err
	}
	return &broker.Result{Secret: s.secret, Served: broker.Candidate{Scope: broker.ScopeAutoLogin}, LoginName: "login"}, nil
}

func (s *scripted) Resolve(ctx context.Context, req broker.Request) ([]broker.Candidate, error) {
	s.got = req
	return []broker.Candidate{{Scope: broker.ScopeUser, Name: "u"}, {Scope: broker.ScopeSystem, Name: "s"}}, s.err
}

func (s *scripted) Lockers() []broker.LockerInfo {
	return []broker.LockerInfo{{Name: "demo", Backend: "store", Kind: "embedded", Prefix: "demo", Writable: true}}
}

func (s *scripted) Put(ctx context.Context, req broker.Request, sec *providers.Secret) (*broker.Candidate, error) {
	s.got, s.put = req, sec
	if s.err != nil {
		return nil, s.err
	}
	return &broker.Candidate{Scope: broker.ScopeSystem, Name: "demo_x"}, nil
}

func (s *scripted) Delete(ctx context.Context, req broker.Request) (*broker.Candidate, error) {
	s.got = req
	if s.err != nil {
		return nil, s.err
	}
	return &broker.Candidate{Scope: broker.ScopeSystem}, nil
}

func client(t testing.TB, b Broker) pb.SecretBrokerClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	New(b).Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewSecretBrokerClient(conn)
}

func TestCodesAndMessages(t *testing.T) {
	b := &scripted{}
	c := client(t, b)
	const inner = "inner detail https://vault.internal:8200/v1/secret/data/x"
	for code, want := range codeMap {
		b.err = &broker.Error{Code: code, Op: "get credential", Reason: "because", Err: errors.New(inner)}
		_, err := c.GetCredential(context.Background(), &pb.GetCredentialRequest{Locker: "l", Credential: "c"})
		st := status.Convert(err)
		if st.Code() != want {
			t.Errorf("%v: got %v, want %v", code, st.Code(), want)
		}
		if strings.Contains(st.Message(), "inner detail") || !strings.Contains(st.Message(), "because") {
			t.Errorf("%v: message %q", code, st.Message())
		}
	}
	// An error that is not the broker's is not the caller's to read.
	b.err = errors.New(inner)
	_, err := c.GetCredential(context.Background(), &pb.GetCredentialRequest{})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("foreign error became %v %q", st.Code(), st.Message())
	}
}

func TestBinaryAttributesAndCaller(t *testing.T) {
	b := &scripted{secret: &providers.Secret{Attributes: map[string]string{"password": "pw", "blob": "\xff\xfe"}}}
	c := client(t, b)
	ctx := metadata.AppendToOutgoingContext(context.Background(), CallerHeader, "bot-42")
	got, err := c.GetCredential(ctx, &pb.GetCredentialRequest{Locker: "l", Credential: "c", Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential.Attributes["password"] != "pw" || string(got.Credential.BinaryAttributes["blob"]) != "\xff\xfe" {
		t.Fatalf("credential %v", got.Credential)
	}
	if got.Scope != pb.Scope_SCOPE_USER || !strings.HasPrefix(b.got.Caller, "bot-42@") {
		t.Fatalf("scope %v caller %q", got.Scope, b.got.Caller)
	}
	if _, err := c.PutCredential(ctx, &pb.PutCredentialRequest{Locker: "l", Credential: "c",
		Attributes: map[string]string{"username": "u"}, BinaryAttributes: map[string][]byte{"key": {0, 1, 0xff}}}); err != nil {
		t.Fatal(err)
	}
	if b.put.Attributes["key"] != "\x00\x01\xff" || b.put.Attributes["username"] != "u" {
		t.Fatalf("put attributes %v", b.put)
	}
	_, err = c.PutCredential(ctx, &pb.PutCredentialRequest{Attributes: map[string]string{"k": "a"}, BinaryAttributes: map[string][]byte{"k": {1}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("duplicate key: %v", err)
	}
}

func TestListAndResolve(t *testing.T) {
	c := client(t, &scripted{})
	l, err := c.ListLockers(context.Background(), &pb.ListLockersRequest{})
	if err != nil || len(l.Lockers) != 1 || l.Lockers[0].ProviderKind != "embedded" {
		t.Fatalf("%v %v", l, err)
	}
	r, err := c.ResolveName(context.Background(), &pb.ResolveNameRequest{Locker: "l", Credential: "c", Username: "u"})
	if err != nil || len(r.Candidates) != 2 || r.Candidates[1].Scope != pb.Scope_SCOPE_SYSTEM {
		t.Fatalf("%v %v", r, err)
	}
}
