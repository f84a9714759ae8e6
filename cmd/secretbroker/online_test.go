package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// fakeBroker is a SecretBrokerServer that records the requests, metadata
// and peers it gets and answers with canned responses, or err when it is
// set. Its fields are read under mu (handlers run with mu held); change them
// with set.
type fakeBroker struct {
	pb.UnimplementedSecretBrokerServer

	mu       sync.Mutex
	get      *pb.GetCredentialResponse
	auto     *pb.GetAutoLoginCredentialResponse
	resolve  *pb.ResolveNameResponse
	lockers  *pb.ListLockersResponse
	put      *pb.PutCredentialResponse
	del      *pb.DeleteCredentialResponse
	err      error
	blocking bool // handlers wait for the call's context to end
	reqs     []proto.Message
	mds      []metadata.MD
	peers    []string // the client certificate's CN, "" without one
}

// intercept records each request, its metadata and its peer's certificate.
func (f *fakeBroker) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	cn := ""
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
			cn = ti.State.PeerCertificates[0].Subject.CommonName
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, proto.Clone(req.(proto.Message)))
	f.mds = append(f.mds, md.Copy())
	f.peers = append(f.peers, cn)
	blocking, err := f.blocking, f.err
	f.mu.Unlock()
	if blocking {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return h(ctx, req)
}

// set changes f under its lock.
func (f *fakeBroker) set(change func(f *fakeBroker)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// last returns the last request and its metadata.
func (f *fakeBroker) last(t *testing.T) (proto.Message, metadata.MD) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the server got no request")
	}
	return f.reqs[len(f.reqs)-1], f.mds[len(f.mds)-1]
}

// lastPeer returns the client certificate CN of the last request.
func (f *fakeBroker) lastPeer(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.peers) == 0 {
		t.Fatal("the server got no request")
	}
	return f.peers[len(f.peers)-1]
}

// count returns the number of requests the server got.
func (f *fakeBroker) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeBroker) GetCredential(context.Context, *pb.GetCredentialRequest) (*pb.GetCredentialResponse, error) {
	return f.get, nil
}

func (f *fakeBroker) GetAutoLoginCredential(context.Context, *pb.GetAutoLoginCredentialRequest) (*pb.GetAutoLoginCredentialResponse, error) {
	return f.auto, nil
}

func (f *fakeBroker) ResolveName(context.Context, *pb.ResolveNameRequest) (*pb.ResolveNameResponse, error) {
	return f.resolve, nil
}

func (f *fakeBroker) ListLockers(context.Context, *pb.ListLockersRequest) (*pb.ListLockersResponse, error) {
	return f.lockers, nil
}

func (f *fakeBroker) PutCredential(context.Context, *pb.PutCredentialRequest) (*pb.PutCredentialResponse, error) {
	return f.put, nil
}

func (f *fakeBroker) DeleteCredential(context.Context, *pb.DeleteCredentialRequest) (*pb.DeleteCredentialResponse, error) {
	return f.del, nil
}

// serve serves f on lis until the test ends.
func serve(t *testing.T, f *fakeBroker, lis net.Listener) {
	t.Helper()
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.intercept))
	pb.RegisterSecretBrokerServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
}

// startFake serves f on 127.0.0.1 and returns its address.
func startFake(t *testing.T, f *fakeBroker) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, f, lis)
	return lis.Addr().String()
}

const secret = "s3cret-Pa55"

// userSource is the source of the user-defined credential of the fake.
func userSource() *pb.Source {
	return &pb.Source{
		Provider: "store", ProviderKind: "embedded", Locker: "finance",
		SecretName: "accounting_pdf_ABCD--user123", LogicalName: `accounting_pdf_ABCD\user123`,
	}
}

// newFake returns a fakeBroker with a response for every call.
func newFake() *fakeBroker {
	return &fakeBroker{
		get: &pb.GetCredentialResponse{
			Credential: &pb.Credential{
				Attributes: map[string]string{"username": "user123", "password": secret, "api_key": "k-" + secret, "domain": "ABCD"},
				Version:    "v7",
				UpdatedAt:  timestamppb.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
			},
			Source: userSource(),
			Scope:  pb.Scope_SCOPE_USER,
		},
		auto: &pb.GetAutoLoginCredentialResponse{
			Credential: &pb.Credential{Attributes: map[string]string{"username": "user123", "domain": "ABCD", "password": secret}},
			Source:     &pb.Source{Provider: "vault", ProviderKind: "cyberark", Location: "autologin", SecretName: "autologin_ABCD--user123"},
			LoginName:  `ABCD\user123`,
		},
		resolve: &pb.ResolveNameResponse{Candidates: []*pb.Candidate{
			{Scope: pb.Scope_SCOPE_USER, Source: userSource()},
			{Scope: pb.Scope_SCOPE_SYSTEM, Source: &pb.Source{Provider: "store", ProviderKind: "embedded", SecretName: "accounting_pdf", LogicalName: "accounting_pdf"}},
		}},
		lockers: &pb.ListLockersResponse{Lockers: []*pb.Locker{
			{Name: "finance", Provider: "store", ProviderKind: "embedded", Prefix: "accounting", Writable: true},
			{Name: "gl", Provider: "ca", ProviderKind: "cyberark", Safe: "finance"},
		}},
		put: &pb.PutCredentialResponse{Source: userSource(), Scope: pb.Scope_SCOPE_USER, Version: "v8"},
		del: &pb.DeleteCredentialResponse{Source: userSource(), Scope: pb.Scope_SCOPE_USER},
	}
}

func getArgs(addr string, extra ...string) []string {
	return append([]string{"-addr", addr, "get", "-locker", "finance", "-credential", "pdf", "-user", `ABCD\user123`}, extra...)
}

func TestGetMasksWithoutReveal(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	r := runCLI(t, "", getArgs(addr)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	want := `USER credential "accounting_pdf_ABCD--user123" from provider "store" (embedded), version "v7", updated 2025-01-02T03:04:05Z
api_key: ********
domain: ABCD
password: ********
username: user123
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Error("the secret is printed without -reveal")
	}
	req, _ := f.last(t)
	if want := (&pb.GetCredentialRequest{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}); !proto.Equal(req, want) {
		t.Errorf("request %v, want %v", req, want)
	}

	r = runCLI(t, "", getArgs(addr, "-reveal")...)
	if r.code != 0 || !strings.Contains(r.stdout, "\npassword: "+secret+"\n") || !strings.Contains(r.stdout, "\napi_key: k-"+secret+"\n") {
		t.Errorf("-reveal: code %d, stdout %q", r.code, r.stdout)
	}

	// Several -attr filter and still mask.
	r = runCLI(t, "", getArgs(addr, "-attr", "username", "-attr", "password")...)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "\npassword: ********\nusername: user123\n") || strings.Contains(r.stdout, "domain") {
		t.Errorf("two -attr: code %d, stdout %q", r.code, r.stdout)
	}
	req, _ = f.last(t)
	if got := req.(*pb.GetCredentialRequest).GetAttributes(); !slices.Equal(got, []string{"username", "password"}) {
		t.Errorf("attributes sent = %q", got)
	}
}

func TestGetAttrPrintsBareValue(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	r := runCLI(t, "", getArgs(addr, "-attr", "password")...)
	if r.code != 0 || r.stdout != secret+"\n" || r.stderr != "" {
		t.Errorf("code %d, stdout %q, stderr %q; want the bare password", r.code, r.stdout, r.stderr)
	}
	req, _ := f.last(t)
	if got := req.(*pb.GetCredentialRequest).GetAttributes(); !slices.Equal(got, []string{"password"}) {
		t.Errorf("attributes sent = %q, want [password]", got)
	}

	// Binary values come out as they are.
	f.set(func(f *fakeBroker) { f.get.Credential.BinaryAttributes = map[string][]byte{"blob": {0xff, 0x00, 0xfe}} })
	r = runCLI(t, "", getArgs(addr, "-attr", "blob")...)
	if r.code != 0 || r.stdout != "\xff\x00\xfe\n" {
		t.Errorf("binary: code %d, stdout %q", r.code, r.stdout)
	}

	// A missing attribute is an error that lists keys, never values.
	r = runCLI(t, "", getArgs(addr, "-attr", "pin")...)
	wantOneErrorLine(t, r, 1)
	if !strings.Contains(r.stderr, `"pin"`) || !strings.Contains(r.stderr, `"username"`) || strings.Contains(r.stderr, secret) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestGetJSON(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	// -o after the command works too.
	r := runCLI(t, "", getArgs(addr, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	if m["scope"] != "SCOPE_USER" || m["source"].(map[string]any)["secret_name"] != "accounting_pdf_ABCD--user123" {
		t.Errorf("json %v", m)
	}
	var got pb.GetCredentialResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, f.get) {
		t.Errorf("json decodes to %v, want %v", &got, f.get)
	}
	if !strings.Contains(r.stdout, secret) {
		t.Error("json output lacks the values it documents")
	}

	// Every other command's JSON parses as its response.
	for _, c := range []struct {
		args []string
		into proto.Message
		want proto.Message
	}{
		{[]string{"autologin", "-user", `ABCD\user123`}, &pb.GetAutoLoginCredentialResponse{}, f.auto},
		{[]string{"resolve", "-locker", "finance", "-credential", "pdf", "-user", "u"}, &pb.ResolveNameResponse{}, f.resolve},
		{[]string{"lockers"}, &pb.ListLockersResponse{}, f.lockers},
		{[]string{"put", "-locker", "finance", "-credential", "pdf", "a=b"}, &pb.PutCredentialResponse{}, f.put},
		{[]string{"delete", "-locker", "finance", "-credential", "pdf"}, &pb.DeleteCredentialResponse{}, f.del},
	} {
		r := runCLI(t, "", append([]string{"-o", "json", "-addr", addr}, c.args...)...)
		if r.code != 0 {
			t.Errorf("%q: code %d, stderr %q", c.args, r.code, r.stderr)
			continue
		}
		if err := protojson.Unmarshal([]byte(r.stdout), c.into); err != nil || !proto.Equal(c.into, c.want) {
			t.Errorf("%q: json %q: %v", c.args, r.stdout, err)
		}
	}
}

func TestNotFound(t *testing.T) {
	f := newFake()
	f.set(func(f *fakeBroker) {
		f.err = status.Error(codes.NotFound, `get credential "pdf" of locker "finance": no secret accounting_pdf_ABCD--user123 or accounting_pdf in provider "store"`)
	})
	addr := startFake(t, f)
	r := runCLI(t, "", getArgs(addr)...)
	want := "secretbroker: NotFound: get credential \"pdf\" of locker \"finance\": no secret accounting_pdf_ABCD--user123 or accounting_pdf in provider \"store\"\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, want)
	}

	// A multi-line status message still makes one line.
	f.set(func(f *fakeBroker) { f.err = status.Error(codes.PermissionDenied, "denied\nsecond line") })
	r = runCLI(t, "", getArgs(addr)...)
	wantOneErrorLine(t, r, 1)
	if r.stderr != "secretbroker: PermissionDenied: denied second line (sent: no credential; the daemon's policy must grant this to that identity, "+
		"or use another credential: a token: -token-file or SECRETBROKER_TOKEN; or a client certificate: -cert/-key)\n" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestUnavailable(t *testing.T) {
	// Unavailable from the daemon itself (a vault is down): no hint about
	// the daemon.
	f := newFake()
	f.err = status.Error(codes.Unavailable, "provider \"aws-prod\" is unavailable")
	addr := startFake(t, f)
	r := runCLI(t, "", getArgs(addr)...)
	wantOneErrorLine(t, r, 1)
	if r.stderr != "secretbroker: Unavailable: provider \"aws-prod\" is unavailable\n" {
		t.Errorf("stderr %q", r.stderr)
	}

	// No daemon at the address: the error and a hint naming the address.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	r = runCLI(t, "", "-addr", closed, "lockers")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "secretbroker: Unavailable: ") ||
		!strings.Contains(lines[1], "is secretbrokerd running at "+closed+"?") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestTimeout(t *testing.T) {
	f := newFake()
	f.blocking = true
	addr := startFake(t, f)
	r := runCLI(t, "", "-addr", addr, "-timeout", "100ms", "lockers")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "secretbroker: DeadlineExceeded: ") || !strings.Contains(r.stderr, "-timeout 100ms") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestPurposeMetadata(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-purpose", "month-end close", "lockers"}, []string{"month-end close"}},
		{[]string{"lockers", "-purpose", `ABCD\bob`}, []string{`ABCD\bob`}},
		{[]string{"-caller", "alice", "lockers"}, []string{"alice"}}, // the old name
		{[]string{"lockers", "-caller", "ticket 42"}, []string{"ticket 42"}},
		{[]string{"-purpose", "josé 100%", "lockers"}, []string{"jos%C3%A9 100%25"}},
		{[]string{"-purpose", "a\nb", "lockers"}, []string{"a%0Ab"}},
		{[]string{"lockers"}, nil}, // none by default
	} {
		r := runCLI(t, "", append([]string{"-addr", addr}, c.args...)...)
		if r.code != 0 {
			t.Fatalf("%q: code %d, stderr %q", c.args, r.code, r.stderr)
		}
		_, md := f.last(t)
		if got := md.Get(purposeKey); !slices.Equal(got, c.want) {
			t.Errorf("%q: %s = %q, want %q", c.args, purposeKey, got, c.want)
		}
		if got := md.Get("x-secretbroker-caller"); got != nil {
			t.Errorf("%q: the old caller header is sent: %q", c.args, got)
		}
	}
}

func TestAddrFromEnvironment(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	e := testEnv()
	e.getenv = func(k string) string {
		if k == addrEnv {
			return addr
		}
		return ""
	}
	if r := runCLIEnv(t, e, "", "lockers"); r.code != 0 {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestUnixSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix sockets")
	}
	dir, err := os.MkdirTemp("", "sb") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "sb.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, newFake(), lis)
	if r := runCLI(t, "", "-addr", "unix:"+path, "lockers"); r.code != 0 || !strings.Contains(r.stdout, "finance") {
		t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestPutValues(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	dir := t.TempDir()
	note := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(note, []byte("line one\nline two\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "blob.bin")
	if err := os.WriteFile(blob, []byte{0xff, 0xfe, '\n'}, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, secret+"\nsecond\n", "-addr", addr, "put", "-locker", "finance", "-credential", "pdf", "-user", `ABCD\user123`,
		"username=user123", "password=-", "pin=-", "note=@"+note, "blob=@"+blob, "eq=a=b", "empty=")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	if want := "stored USER credential \"accounting_pdf_ABCD--user123\" in provider \"store\" (embedded), version \"v8\"\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	got, _ := f.last(t)
	want := &pb.PutCredentialRequest{
		Locker: "finance", Credential: "pdf", Username: `ABCD\user123`,
		Attributes: map[string]string{
			"username": "user123", "password": secret, "pin": "second",
			"note": "line one\nline two", "eq": "a=b", "empty": "",
		},
		BinaryAttributes: map[string][]byte{"blob": {0xff, 0xfe, '\n'}},
	}
	if !proto.Equal(got, want) {
		t.Errorf("request\n%v\nwant\n%v", got, want)
	}

	// Auto-login, and a value without a line ending at the end of stdin.
	r = runCLI(t, secret, "-addr", addr, "put", "-autologin", "-user", `ABCD\user123`, "password=-")
	got, _ = f.last(t)
	if want := (&pb.PutCredentialRequest{AutoLogin: true, Username: `ABCD\user123`, Attributes: map[string]string{"password": secret}}); r.code != 0 || !proto.Equal(got, want) {
		t.Errorf("code %d, request %v", r.code, got)
	}
}

func TestPutErrors(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	base := []string{"-addr", addr, "put", "-locker", "finance", "-credential", "pdf"}

	// Nothing on stdin for key=-.
	r := runCLI(t, "", append(base, "password=-")...)
	wantOneErrorLine(t, r, 1)

	// A missing file.
	r = runCLI(t, "", append(base, "cert=@"+filepath.Join(t.TempDir(), "missing.pem"))...)
	wantOneErrorLine(t, r, 1)

	// An argument without '=' is not echoed: it may be a password.
	r = runCLI(t, "", append(base, "username=u", secret)...)
	wantOneErrorLine(t, r, 2)
	if strings.Contains(r.stderr, secret) {
		t.Errorf("stderr echoes the argument: %q", r.stderr)
	}

	f.mu.Lock()
	n := len(f.reqs)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests sent for bad put command lines", n)
	}
}

func TestAutologinText(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	r := runCLI(t, "", "-addr", addr, "autologin", "-user", `ABCD\user123`)
	want := `AUTO_LOGIN credential "autologin_ABCD--user123" (safe "autologin") from provider "vault" (cyberark)
login name: ABCD\user123
domain: ABCD
password: ********
username: user123
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	req, _ := f.last(t)
	if !proto.Equal(req, &pb.GetAutoLoginCredentialRequest{Username: `ABCD\user123`}) {
		t.Errorf("request %v", req)
	}
	r = runCLI(t, "", "-addr", addr, "autologin", "-user", `ABCD\user123`, "-reveal")
	if !strings.Contains(r.stdout, "password: "+secret+"\n") {
		t.Errorf("-reveal: stdout %q", r.stdout)
	}
}

func TestResolveText(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	r := runCLI(t, "", "-addr", addr, "resolve", "-locker", "finance", "-credential", "pdf", "-user", `ABCD\user123`)
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout %q, want 2 lines", r.stdout)
	}
	if want := []string{"1.", "USER", "accounting_pdf_ABCD--user123", "provider", "store", "(embedded)", "logical", `accounting_pdf_ABCD\user123`}; !slices.Equal(strings.Fields(lines[0]), want) {
		t.Errorf("line 1 = %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "2. SYSTEM") || strings.Index(lines[0], "provider") != strings.Index(lines[1], "provider") {
		t.Errorf("line 2 = %q, not aligned with %q", lines[1], lines[0])
	}
	req, _ := f.last(t)
	if !proto.Equal(req, &pb.ResolveNameRequest{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}) {
		t.Errorf("request %v", req)
	}

	runCLI(t, "", "-addr", addr, "resolve", "-autologin", "-user", "u@x")
	req, _ = f.last(t)
	if !proto.Equal(req, &pb.ResolveNameRequest{AutoLogin: true, Username: "u@x"}) {
		t.Errorf("request %v", req)
	}
}

func TestLockersTable(t *testing.T) {
	addr := startFake(t, newFake())
	r := runCLI(t, "", "-addr", addr, "lockers")
	want := `NAME     PROVIDER  KIND      PREFIX      SAFE     WRITABLE
finance  store     embedded  accounting  -        yes
gl       ca        cyberark  -           finance  no
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
}

func TestDelete(t *testing.T) {
	f := newFake()
	addr := startFake(t, f)
	r := runCLI(t, "", "-addr", addr, "delete", "-locker", "finance", "-credential", "pdf", "-user", `ABCD\user123`)
	if want := "deleted USER credential \"accounting_pdf_ABCD--user123\" from provider \"store\" (embedded)\n"; r.code != 0 || r.stdout != want {
		t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	req, _ := f.last(t)
	if !proto.Equal(req, &pb.DeleteCredentialRequest{Locker: "finance", Credential: "pdf", Username: `ABCD\user123`}) {
		t.Errorf("request %v", req)
	}
}
