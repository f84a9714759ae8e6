// Package server is the gRPC face of the broker: it implements the
// secretbroker.v1.SecretBroker service by turning each request into one call
// of the broker and each *broker.Error into a gRPC status. It holds no logic
// of its own and imports no vault SDK; the message a caller sees is the
// broker's caller-safe message, never an inner error's text.
package server

import (
	"context"
	"errors"
	"net/url"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/secretbroker/secretbroker/broker"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
)

// CallerHeader is the metadata key a client may set to say who it is,
// percent-encoding anything that is not printable ASCII; the
// broker records it in its audit log and forwards it to vaults that audit
// (CyberArk's Reason). It is informational: it grants nothing.
const CallerHeader = "x-secretbroker-caller"

// Broker is what the service needs of the broker.
type Broker interface {
	GetCredential(ctx context.Context, req broker.Request, keys []string) (*broker.Result, error)
	GetAutoLogin(ctx context.Context, username, caller string) (*broker.Result, error)
	Resolve(ctx context.Context, req broker.Request) ([]broker.Candidate, error)
	Lockers() []broker.LockerInfo
	Put(ctx context.Context, req broker.Request, s *providers.Secret) (*broker.Candidate, error)
	Delete(ctx context.Context, req broker.Request) (*broker.Candidate, error)
}

// Server implements pb.SecretBrokerServer over a Broker.
type Server struct {
	pb.UnimplementedSecretBrokerServer
	b Broker
}

// New returns a Server that serves b.
func New(b Broker) *Server { return &Server{b: b} }

// Register registers the service on g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterSecretBrokerServer(g, s) }

// GetAutoLoginCredential implements pb.SecretBrokerServer.
func (s *Server) GetAutoLoginCredential(ctx context.Context, req *pb.GetAutoLoginCredentialRequest) (*pb.GetAutoLoginCredentialResponse, error) {
	res, err := s.b.GetAutoLogin(ctx, req.GetUsername(), caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetAutoLoginCredentialResponse{Credential: credential(res.Secret), Source: source(res.Served), LoginName: res.LoginName}, nil
}

// GetCredential implements pb.SecretBrokerServer.
func (s *Server) GetCredential(ctx context.Context, req *pb.GetCredentialRequest) (*pb.GetCredentialResponse, error) {
	r := broker.Request{Locker: req.GetLocker(), Credential: req.GetCredential(), Username: req.GetUsername(), Caller: caller(ctx)}
	res, err := s.b.GetCredential(ctx, r, req.GetAttributes())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetCredentialResponse{Credential: credential(res.Secret), Source: source(res.Served),
		Scope: scope(res.Served.Scope), LoginName: res.LoginName}, nil
}

// ResolveName implements pb.SecretBrokerServer.
func (s *Server) ResolveName(ctx context.Context, req *pb.ResolveNameRequest) (*pb.ResolveNameResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(),
		Username: req.GetUsername(), Caller: caller(ctx)}
	cands, err := s.b.Resolve(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ResolveNameResponse{}
	for _, c := range cands {
		out.Candidates = append(out.Candidates, &pb.Candidate{Scope: scope(c.Scope), Source: source(c), Mapped: c.Mapped})
	}
	return out, nil
}

// ListLockers implements pb.SecretBrokerServer.
func (s *Server) ListLockers(ctx context.Context, _ *pb.ListLockersRequest) (*pb.ListLockersResponse, error) {
	out := &pb.ListLockersResponse{}
	for _, l := range s.b.Lockers() {
		out.Lockers = append(out.Lockers, &pb.Locker{Name: l.Name, Provider: l.Backend, ProviderKind: l.Kind,
			Prefix: l.Prefix, Safe: l.Safe, Writable: l.Writable})
	}
	return out, nil
}

// PutCredential implements pb.SecretBrokerServer.
func (s *Server) PutCredential(ctx context.Context, req *pb.PutCredentialRequest) (*pb.PutCredentialResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(),
		Username: req.GetUsername(), Caller: caller(ctx)}
	attrs := make(map[string]string, len(req.GetAttributes())+len(req.GetBinaryAttributes()))
	for k, v := range req.GetAttributes() {
		attrs[k] = v
	}
	for k, v := range req.GetBinaryAttributes() {
		if _, dup := attrs[k]; dup {
			return nil, status.Errorf(codes.InvalidArgument, "attribute %q is given both as text and as binary", k)
		}
		attrs[k] = string(v)
	}
	c, err := s.b.Put(ctx, r, &providers.Secret{Attributes: attrs})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PutCredentialResponse{Source: source(*c), Scope: scope(c.Scope)}, nil
}

// DeleteCredential implements pb.SecretBrokerServer.
func (s *Server) DeleteCredential(ctx context.Context, req *pb.DeleteCredentialRequest) (*pb.DeleteCredentialResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(),
		Username: req.GetUsername(), Caller: caller(ctx)}
	c, err := s.b.Delete(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteCredentialResponse{Source: source(*c), Scope: scope(c.Scope)}, nil
}

// caller names who asks: the caller header if set, and the peer address.
func caller(ctx context.Context) string {
	who := "unnamed"
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(CallerHeader); len(v) > 0 && v[0] != "" {
			// Clients percent-encode what is not printable ASCII.
			if u, err := url.PathUnescape(v[0]); err == nil && len(u) <= 256 && utf8.ValidString(u) && !hasControl(u) {
				who = u
			}
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil && p.Addr.String() != "" {
		who += "@" + p.Addr.String()
	}
	return who
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

var codeMap = map[providers.Code]codes.Code{
	providers.NotFound:           codes.NotFound,
	providers.PermissionDenied:   codes.PermissionDenied,
	providers.Unavailable:        codes.Unavailable,
	providers.DeadlineExceeded:   codes.DeadlineExceeded,
	providers.Canceled:           codes.Canceled,
	providers.InvalidArgument:    codes.InvalidArgument,
	providers.FailedPrecondition: codes.FailedPrecondition,
	providers.Internal:           codes.Internal,
	providers.Unknown:            codes.Unknown,
}

// toStatus maps a broker error to a status whose message is the broker's
// caller-safe message. Any other error becomes a bare Internal: its text is
// not the caller's to see.
func toStatus(err error) error {
	var e *broker.Error
	if !errors.As(err, &e) {
		return status.Error(codes.Internal, "internal error")
	}
	c, ok := codeMap[e.Code]
	if !ok {
		c = codes.Unknown
	}
	return status.Error(c, e.Message())
}

func credential(s *providers.Secret) *pb.Credential {
	c := &pb.Credential{Attributes: map[string]string{}, Version: s.Version}
	for k, v := range s.Attributes {
		if utf8.ValidString(v) {
			c.Attributes[k] = v
			continue
		}
		if c.BinaryAttributes == nil {
			c.BinaryAttributes = map[string][]byte{}
		}
		c.BinaryAttributes[k] = []byte(v)
	}
	if !s.UpdatedAt.IsZero() {
		c.UpdatedAt = timestamppb.New(s.UpdatedAt)
	}
	return c
}

func source(c broker.Candidate) *pb.Source {
	return &pb.Source{Provider: c.Backend, ProviderKind: c.Kind, Locker: c.Locker, Location: c.Location,
		SecretName: c.Name, LogicalName: c.Logical}
}

func scope(s broker.Scope) pb.Scope {
	switch s {
	case broker.ScopeUser:
		return pb.Scope_SCOPE_USER
	case broker.ScopeSystem:
		return pb.Scope_SCOPE_SYSTEM
	case broker.ScopeAutoLogin:
		return pb.Scope_SCOPE_AUTO_LOGIN
	}
	return pb.Scope_SCOPE_UNSPECIFIED
}
