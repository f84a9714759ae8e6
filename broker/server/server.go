// Package server is the gRPC face of the broker: it implements the
// secretbroker.v1.SecretBroker service by turning each request into one call
// of the broker and each *broker.Error into a gRPC status. It authenticates
// nothing itself (the auth/grpcauth interceptors put the caller's principal
// in the context first) and decides nothing: the message a caller sees is
// the broker's caller-safe message, never an inner error's text.
package server

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/secretbroker/secretbroker/broker"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers"
)

// Reloader reloads the daemon's configuration (the ReloadConfig RPC). The
// caller must already be authorized for the admin operation.
type Reloader interface {
	// Reload loads and swaps in the configuration file; it returns the file
	// and how many providers were kept and built.
	Reload(ctx context.Context) (file string, kept, built int, err error)
}

// Server implements pb.SecretBrokerServer over the current broker, which a
// reload swaps atomically: a request in flight finishes on the broker it
// started with.
type Server struct {
	pb.UnimplementedSecretBrokerServer
	b        *atomic.Pointer[broker.Broker]
	reloader Reloader
}

// New returns a Server that serves the broker b points to. reloader may be
// nil (ReloadConfig then answers Unimplemented).
func New(b *atomic.Pointer[broker.Broker], reloader Reloader) *Server {
	return &Server{b: b, reloader: reloader}
}

// Register registers the service on g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterSecretBrokerServer(g, s) }

// GetAutoLoginCredential implements pb.SecretBrokerServer.
func (s *Server) GetAutoLoginCredential(ctx context.Context, req *pb.GetAutoLoginCredentialRequest) (*pb.GetAutoLoginCredentialResponse, error) {
	res, err := s.b.Load().GetAutoLogin(ctx, broker.Request{Username: req.GetUsername(), Fresh: req.GetBypassCache()})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.GetAutoLoginCredentialResponse{Credential: credential(res.Secret), Source: source(res.Served),
		LoginName: res.LoginName, Stale: res.Stale}, nil
}

// GetCredential implements pb.SecretBrokerServer.
func (s *Server) GetCredential(ctx context.Context, req *pb.GetCredentialRequest) (*pb.GetCredentialResponse, error) {
	r := broker.Request{Locker: req.GetLocker(), Credential: req.GetCredential(), Username: req.GetUsername(),
		Attributes: req.GetAttributes(), Fresh: req.GetBypassCache()}
	res, err := s.b.Load().GetCredential(ctx, r)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.GetCredentialResponse{Credential: credential(res.Secret), Source: source(res.Served),
		Scope: scope(res.Served.Scope), LoginName: res.LoginName, Stale: res.Stale}, nil
}

// ResolveName implements pb.SecretBrokerServer.
func (s *Server) ResolveName(ctx context.Context, req *pb.ResolveNameRequest) (*pb.ResolveNameResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(), Username: req.GetUsername()}
	cands, err := s.b.Load().Resolve(ctx, r)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	out := &pb.ResolveNameResponse{}
	for _, c := range cands {
		out.Candidates = append(out.Candidates, &pb.Candidate{Scope: scope(c.Scope), Source: source(c), Mapped: c.Mapped})
	}
	return out, nil
}

// ListLockers implements pb.SecretBrokerServer.
func (s *Server) ListLockers(ctx context.Context, _ *pb.ListLockersRequest) (*pb.ListLockersResponse, error) {
	ls, err := s.b.Load().Lockers(ctx)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	out := &pb.ListLockersResponse{}
	for _, l := range ls {
		first := l.Places[0]
		pl := &pb.Locker{Name: l.Name, Provider: first.Provider, ProviderKind: first.Kind, Prefix: first.Prefix,
			Safe: first.Safe, Writable: l.Writable}
		for _, p := range l.Places {
			pl.Places = append(pl.Places, &pb.Place{Provider: p.Provider, ProviderKind: p.Kind, Prefix: p.Prefix, Safe: p.Safe})
		}
		out.Lockers = append(out.Lockers, pl)
	}
	return out, nil
}

// PutCredential implements pb.SecretBrokerServer.
func (s *Server) PutCredential(ctx context.Context, req *pb.PutCredentialRequest) (*pb.PutCredentialResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(), Username: req.GetUsername()}
	if n := len(req.GetAttributes()) + len(req.GetBinaryAttributes()); n > broker.MaxAttributes {
		return nil, status.Errorf(codes.InvalidArgument, "the credential has %d attributes; at most %d are allowed", n, broker.MaxAttributes)
	}
	attrs := make(map[string]string, len(req.GetAttributes())+len(req.GetBinaryAttributes()))
	for k, v := range req.GetAttributes() {
		attrs[k] = v
	}
	for k, v := range req.GetBinaryAttributes() {
		if _, dup := attrs[k]; dup {
			return nil, status.Error(codes.InvalidArgument, "an attribute is given both as text and as binary")
		}
		attrs[k] = string(v)
	}
	c, err := s.b.Load().Put(ctx, r, &providers.Secret{Attributes: attrs})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.PutCredentialResponse{Source: source(*c), Scope: scope(c.Scope)}, nil
}

// DeleteCredential implements pb.SecretBrokerServer.
func (s *Server) DeleteCredential(ctx context.Context, req *pb.DeleteCredentialRequest) (*pb.DeleteCredentialResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(), Username: req.GetUsername()}
	c, err := s.b.Load().Delete(ctx, r)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.DeleteCredentialResponse{Source: source(*c), Scope: scope(c.Scope)}, nil
}

// CheckCredentials implements pb.SecretBrokerServer.
func (s *Server) CheckCredentials(ctx context.Context, req *pb.CheckCredentialsRequest) (*pb.CheckCredentialsResponse, error) {
	r := broker.Request{AutoLogin: req.GetAutoLogin(), Locker: req.GetLocker(), Credential: req.GetCredential(),
		Username: req.GetUsername(), Fresh: req.GetBypassCache()}
	ps, err := s.b.Load().Check(ctx, r)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	out := &pb.CheckCredentialsResponse{}
	for _, p := range ps {
		out.Presence = append(out.Presence, &pb.Presence{
			Candidate: &pb.Candidate{Scope: scope(p.Candidate.Scope), Source: source(p.Candidate), Mapped: p.Candidate.Mapped},
			Exists:    p.Code == providers.OK, Code: p.Code.String(), Reason: p.Reason})
	}
	return out, nil
}

// InvalidateCache implements pb.SecretBrokerServer.
func (s *Server) InvalidateCache(ctx context.Context, req *pb.InvalidateCacheRequest) (*pb.InvalidateCacheResponse, error) {
	r := broker.InvalidateRequest{All: req.GetAll(), Request: broker.Request{AutoLogin: req.GetAutoLogin(),
		Locker: req.GetLocker(), Credential: req.GetCredential(), Username: req.GetUsername()}}
	n, err := s.b.Load().Invalidate(ctx, r)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.InvalidateCacheResponse{Dropped: int64(n)}, nil
}

// ReloadConfig implements pb.SecretBrokerServer. The admin operation is
// checked by the current broker (an invalidation of nothing), then the
// reloader swaps the configuration.
func (s *Server) ReloadConfig(ctx context.Context, _ *pb.ReloadConfigRequest) (*pb.ReloadConfigResponse, error) {
	if s.reloader == nil {
		return nil, status.Error(codes.Unimplemented, "this daemon cannot reload its configuration")
	}
	if err := s.b.Load().AuthorizeAdmin(ctx, "reload configuration"); err != nil {
		return nil, toStatus(ctx, err)
	}
	file, kept, built, err := s.reloader.Reload(ctx)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, "the configuration was not reloaded: "+err.Error())
	}
	return &pb.ReloadConfigResponse{Config: file, ProvidersKept: int32(kept), ProvidersBuilt: int32(built)}, nil
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
	providers.ResourceExhausted:  codes.ResourceExhausted,
	providers.Unknown:            codes.Unknown,
}

// RetryAfterHeader is the trailer that carries a retry delay in
// milliseconds with a ResourceExhausted or Unavailable status.
const RetryAfterHeader = "x-secretbroker-retry-after-ms"

// toStatus maps a broker error to a status whose message is the broker's
// caller-safe message. Any other error becomes a bare Internal: its text is
// not the caller's to see.
func toStatus(ctx context.Context, err error) error {
	var e *broker.Error
	if !errors.As(err, &e) {
		return status.Error(codes.Internal, "internal error")
	}
	c, ok := codeMap[e.Code]
	if !ok {
		c = codes.Unknown
	}
	if e.RetryAfter > 0 {
		_ = grpc.SetTrailer(ctx, metadata.Pairs(RetryAfterHeader, strconv.FormatInt(e.RetryAfter.Milliseconds(), 10)))
	}
	return status.Error(c, e.Message())
}

func credential(s *providers.Secret) *pb.Credential {
	c := &pb.Credential{Attributes: make(map[string]string, len(s.Attributes)), Version: s.Version}
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
	return &pb.Source{Provider: c.Provider, ProviderKind: c.Kind, Locker: c.Locker, Location: c.Location,
		SecretName: c.Name, LogicalName: c.Logical, Place: int32(c.Place)}
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
