package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// serveBaselineFlag is the hidden first argument that makes the bench's
// own binary the baseline server.
const serveBaselineFlag = "-serve-baseline"

var baselineLine = regexp.MustCompile(`^baseline listening on (\S+)`)

// baselineServer answers GetCredential and GetAutoLoginCredential with a
// prebuilt response of a credential's size and shape: the cost of a unary
// call over the same transport security, and nothing else.
type baselineServer struct {
	pb.UnimplementedSecretBrokerServer
	cred  *pb.GetCredentialResponse
	login *pb.GetAutoLoginCredentialResponse
}

func (s *baselineServer) GetCredential(context.Context, *pb.GetCredentialRequest) (*pb.GetCredentialResponse, error) {
	return s.cred, nil
}

func (s *baselineServer) GetAutoLoginCredential(context.Context, *pb.GetAutoLoginCredentialRequest) (*pb.GetAutoLoginCredentialResponse, error) {
	return s.login, nil
}

// typicalCredential is a credential of the sizes the bench stores in the
// daemon: a user name, a 24-character password and a domain.
func typicalCredential(user string) map[string]string {
	return map[string]string{"username": user, "password": "Bench-Pw-0123456789abcd!", "domain": "ABCD"}
}

// baselineResponses builds responses shaped like the daemon's answer for
// a user-defined credential of the embedded store.
func baselineResponses() (*pb.GetCredentialResponse, *pb.GetAutoLoginCredentialResponse) {
	updated := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cred := &pb.Credential{Attributes: typicalCredential("user000001"), Version: "1", UpdatedAt: updated}
	return &pb.GetCredentialResponse{
			Credential: cred,
			Source: &pb.Source{Provider: "store", ProviderKind: "embedded", Locker: "bench",
				SecretName: "bench_erp_ABCD--user000001", LogicalName: `bench_erp_ABCD\user000001`},
			Scope: pb.Scope_SCOPE_USER,
		}, &pb.GetAutoLoginCredentialResponse{
			Credential: cred,
			Source:     &pb.Source{Provider: "store", ProviderKind: "embedded", SecretName: "autologin_ABCD--user000001", LogicalName: `autologin_ABCD\user000001`},
			LoginName:  "user000001",
		}
}

// serveBaseline runs the baseline server: mutual TLS with the files of
// -pki DIR (server.pem, server-key.pem, ca.pem as client CA), on
// 127.0.0.1:0; it prints "baseline listening on ADDR" and serves until
// SIGTERM or SIGINT.
func serveBaseline(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secretbroker-bench "+serveBaselineFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("pki", "", "directory holding server.pem, server-key.pem and ca.pem")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runBaseline(ctx, *dir, stdout); err != nil {
		fmt.Fprintf(stderr, "secretbroker-bench baseline: %v\n", err)
		return 1
	}
	return 0
}

// runBaseline serves until ctx ends.
func runBaseline(ctx context.Context, dir string, stdout io.Writer) error {
	if dir == "" {
		return errors.New("-pki is required")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("ca.pem holds no certificate")
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := grpc.NewServer(grpc.Creds(creds))
	cred, login := baselineResponses()
	pb.RegisterSecretBrokerServer(g, &baselineServer{cred: cred, login: login})
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	fmt.Fprintf(stdout, "baseline listening on %s\n", lis.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		g.Stop()
		return nil
	}
}

// startBaseline re-executes this binary as the baseline server.
func startBaseline(ctx context.Context, ps *procs, p *pki) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("finding this binary to run the baseline server: %w", err)
	}
	b, err := ps.start("baseline server", self, serveBaselineFlag, "-pki", p.dir)
	if err != nil {
		return nil, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := b.await(wctx, baselineLine)
	if err != nil {
		return nil, "", err
	}
	return b, got[0], nil
}
