// Package grpcauth authenticates the callers of the daemon's gRPC server:
// it turns a verified client certificate, a bearer token or the unix peer
// credentials of a connection into an auth.Principal in the request's
// context, and refuses every other call with codes.Unauthenticated before
// any service code runs. It decides who the caller is, never what they may
// do (that is the broker's Authorizer).
//
// A server listening on TCP uses TLS credentials (auth.CertReloader) and
// one listening on a unix socket UnixPeerCredentials; a grpc.Server has
// one set of transport credentials, so a daemon serving both runs two
// grpc.Server values, built with ServerOptions, on which it registers the
// same service implementations:
//
//	a, _ := grpcauth.New(grpcauth.Options{Tokens: tokens})
//	tcp := grpc.NewServer(a.ServerOptions(credentials.NewTLS(reloader.TLSConfig()))...)
//	local := grpc.NewServer(a.ServerOptions(grpcauth.UnixPeerCredentials())...)
//	for _, s := range []*grpc.Server{tcp, local} {
//		pb.RegisterSecretBrokerServer(s, svc) // the same svc for both
//	}
//	go tcp.Serve(tcpListener)
//	go local.Serve(unixListener) // from auth.ListenUnix
package grpcauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	grpcmwauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/secretbroker/secretbroker/auth"
)

// PurposeHeader is the metadata key a client states its purpose in: free
// text recorded in the audit (auth.WithPurpose), percent-encoded, at most
// MaxPurposeLen characters once decoded. A value that is not valid
// percent-encoded UTF-8, holds control characters or is longer is ignored.
const PurposeHeader = "x-secretbroker-purpose"

// MaxPurposeLen is the longest purpose kept, in characters.
const MaxPurposeLen = 256

// DefaultAllowUnauthenticated returns the methods callable without
// credentials when Options.AllowUnauthenticated is nil: the gRPC health
// service (load balancers and orchestrators probe it without credentials)
// and server reflection.
func DefaultAllowUnauthenticated() []string {
	return []string{
		"/grpc.health.v1.Health/*",
		"/grpc.reflection.v1.ServerReflection/*",
		"/grpc.reflection.v1alpha.ServerReflection/*",
	}
}

// Options configures an Authenticator.
type Options struct {
	// Tokens are the bearer tokens the server accepts; nil accepts none.
	Tokens *auth.TokenSet
	// AllowUnauthenticated are the full method names ("/pkg.Service/Method",
	// the leading slash optional) that are served without authentication
	// and without a Principal; "/pkg.Service/*" names all methods of a
	// service. Nil means DefaultAllowUnauthenticated(); an empty, non-nil
	// slice exempts nothing.
	AllowUnauthenticated []string
	// Logger receives one record per refused call (method, peer address
	// and reason, never a credential). Nil discards them.
	Logger *slog.Logger
}

// Authenticator authenticates gRPC calls. Build it with New.
type Authenticator struct {
	tokens         *auth.TokenSet
	exemptMethods  map[string]bool
	exemptServices map[string]bool
	log            *slog.Logger
}

// New checks opts and returns an Authenticator.
func New(opts Options) (*Authenticator, error) {
	a := &Authenticator{
		tokens:         opts.Tokens,
		exemptMethods:  map[string]bool{},
		exemptServices: map[string]bool{},
		log:            opts.Logger,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	allow := opts.AllowUnauthenticated
	if allow == nil {
		allow = DefaultAllowUnauthenticated()
	}
	for i, m := range allow {
		full := "/" + strings.TrimPrefix(m, "/")
		svc, method, ok := strings.Cut(full[1:], "/")
		if !ok || svc == "" || method == "" || strings.Contains(method, "/") ||
			strings.Contains(svc, "*") || (method != "*" && strings.Contains(method, "*")) {
			return nil, fmt.Errorf("grpcauth: allow_unauthenticated[%d] %q is not a full method name (write /package.Service/Method or /package.Service/*)", i, m)
		}
		if method == "*" {
			a.exemptServices[svc] = true
		} else {
			a.exemptMethods[full] = true
		}
	}
	return a, nil
}

// ServerOptions returns the options for a grpc.Server that authenticates
// with a: the transport credentials of its listener (TLS on TCP,
// UnixPeerCredentials on a unix socket, insecure.NewCredentials only where
// PlaintextAllowed allows) and a's interceptors. Interceptors added by
// later options run after (inside) authentication.
func (a *Authenticator) ServerOptions(creds credentials.TransportCredentials) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(a.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(a.StreamInterceptor()),
	}
}

// UnaryInterceptor returns the interceptor that authenticates unary calls
// (see Authenticate).
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return grpcmwauth.UnaryServerInterceptor(a.Authenticate)
}

// StreamInterceptor returns the interceptor that authenticates streaming
// calls (see Authenticate).
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return grpcmwauth.StreamServerInterceptor(a.Authenticate)
}

// Authenticate is the interceptors' go-grpc-middleware AuthFunc: it
// returns ctx carrying the caller's auth.Principal (and stated purpose),
// or a codes.Unauthenticated error saying what is expected. The first of
// these decides:
//
//  1. a client certificate verified by the TLS handshake: its
//     auth.IdentityFromCert, method mtls. A bearer token sent along with
//     it is ignored: the certificate wins.
//  2. authorization: Bearer <token> metadata: the identity the TokenSet
//     gives it, method token. A token that is not known is refused
//     ("token not recognised"); it never falls through to 3.
//  3. the unix peer credentials of a connection accepted with
//     UnixPeerCredentials: unix:uid:N, method unix.
//
// Methods in Options.AllowUnauthenticated are passed through unchanged.
// (A service implementing go-grpc-middleware's ServiceAuthFuncOverride
// would replace this function for its methods; none may.)
func (a *Authenticator) Authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	if a.exempt(method) {
		return ctx, nil
	}
	p, err := a.principal(ctx)
	if err != nil {
		addr := ""
		if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
			addr = pr.Addr.String()
		}
		a.log.LogAttrs(ctx, slog.LevelInfo, "grpc call not authenticated",
			slog.String("method", method), slog.String("peer", addr), slog.String("reason", status.Convert(err).Message()))
		return nil, err
	}
	ctx = auth.NewContext(ctx, p)
	if purpose, ok := purposeFrom(ctx); ok {
		ctx = auth.WithPurpose(ctx, purpose)
	}
	return ctx, nil
}

func (a *Authenticator) exempt(method string) bool {
	if a.exemptMethods[method] {
		return true
	}
	svc, _, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return ok && a.exemptServices[svc]
}

func (a *Authenticator) principal(ctx context.Context) (auth.Principal, error) {
	pr, _ := peer.FromContext(ctx)
	var info credentials.AuthInfo
	if pr != nil {
		info = pr.AuthInfo
	}
	if tlsInfo, ok := info.(credentials.TLSInfo); ok && len(tlsInfo.State.VerifiedChains) > 0 && len(tlsInfo.State.PeerCertificates) > 0 {
		id := auth.IdentityFromCert(tlsInfo.State.PeerCertificates[0])
		if id == "" {
			return auth.Principal{}, status.Error(codes.Unauthenticated, "client certificate names no identity (give it a URI SAN, a DNS SAN or a subject common name)")
		}
		return auth.Principal{ID: id, Method: auth.MethodMTLS}, nil
	}
	if token, present, err := bearerToken(ctx); err != nil {
		return auth.Principal{}, err
	} else if present {
		p, ok := a.tokens.Lookup(token)
		if !ok {
			return auth.Principal{}, status.Error(codes.Unauthenticated, "token not recognised")
		}
		return p, nil
	}
	if u, ok := info.(UnixPeerInfo); ok {
		return u.Principal, nil
	}
	return auth.Principal{}, status.Error(codes.Unauthenticated, "send a bearer token (authorization: Bearer ...) or a client certificate")
}

// bearerToken returns the token of the request's authorization metadata,
// and whether there is one. Its errors never quote the metadata.
func bearerToken(ctx context.Context) (token string, present bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch {
	case len(vals) == 0:
		return "", false, nil
	case len(vals) > 1:
		return "", true, status.Errorf(codes.Unauthenticated, "send one authorization metadata value, not %d", len(vals))
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return "", true, status.Error(codes.Unauthenticated, "authorization metadata must be \"Bearer <token>\"")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", true, status.Error(codes.Unauthenticated, "authorization metadata has an empty bearer token")
	}
	return tok, true, nil
}

// purposeFrom returns the request's decoded PurposeHeader, if it has an
// acceptable one.
func purposeFrom(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(PurposeHeader)
	if len(vals) == 0 || len(vals[0]) > 3*4*MaxPurposeLen {
		return "", false
	}
	s, err := url.PathUnescape(vals[0])
	if err != nil || s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxPurposeLen {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}
