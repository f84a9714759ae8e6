package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/secretbroker/secretbroker/internal/daemontest"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// These tests build secretbrokerd, start it as a process on loopback and
// talk to it through gRPC, as the Control Room and the CLI do.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secretbrokerd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "secretbrokerd")
	out, err := exec.Command("go", "build", "-o", binary, daemontest.Package).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building secretbrokerd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs the daemon with its admin listener on a free loopback port.
func start(t *testing.T, args ...string) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, binary, nil, append([]string{"-admin-listen", "127.0.0.1:0"}, args...)...)
}

// dial connects with the local admin token of dataDir.
func dial(t *testing.T, addr, dataDir string) *grpc.ClientConn {
	return daemontest.DialToken(t, addr, daemontest.AdminToken(t, dataDir))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, code codes.Code, contains ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	for _, c := range contains {
		if !strings.Contains(status.Convert(err).Message(), c) {
			t.Errorf("message %q does not contain %q", status.Convert(err).Message(), c)
		}
	}
}

func TestDefaultConfigEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	d := start(t, "-data-dir", dataDir, "-listen", "127.0.0.1:0")
	conn := dial(t, d.Addr, dataDir)
	c := pb.NewSecretBrokerClient(conn)

	// The key was created with mode 0600 and is not in the logs.
	key := filepath.Join(dataDir, "store.key")
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatalf("no key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}

	// Health needs no credentials; the daemon is ready once its store checks healthy.
	hc := healthpb.NewHealthClient(daemontest.Dial(t, d.Addr))
	waitFor(t, "SERVING", func() bool {
		h, err := hc.Check(ctx(t), &healthpb.HealthCheckRequest{Service: pb.SecretBroker_ServiceDesc.ServiceName})
		return err == nil && h.Status == healthpb.HealthCheckResponse_SERVING
	})

	lockers, err := c.ListLockers(ctx(t), &pb.ListLockersRequest{})
	if err != nil || len(lockers.Lockers) != 1 || lockers.Lockers[0].Name != "demo" || !lockers.Lockers[0].Writable {
		t.Fatalf("ListLockers: %v %v", lockers, err)
	}

	const user = `ABCD\user123`
	put, err := c.PutCredential(ctx(t), &pb.PutCredentialRequest{Locker: "demo", Credential: "erp",
		Attributes: map[string]string{"username": "erp-system", "password": "system-pw"}})
	if err != nil || put.Source.SecretName != "demo_erp" {
		t.Fatalf("put system: %v %v", put, err)
	}
	// The bot of a user without a credential of its own gets the system one.
	got, err := c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp", Username: user})
	if err != nil || got.Scope != pb.Scope_SCOPE_SYSTEM || got.Credential.Attributes["password"] != "system-pw" {
		t.Fatalf("get before user credential: %v %v", got.GetScope(), err)
	}
	put, err = c.PutCredential(ctx(t), &pb.PutCredentialRequest{Locker: "demo", Credential: "erp", Username: user,
		Attributes:       map[string]string{"username": "user123", "password": "user-pw"},
		BinaryAttributes: map[string][]byte{"blob": {0xff, 0x00, 0xfe}}})
	if err != nil || put.Source.SecretName != "demo_erp_ABCD--user123" || put.Scope != pb.Scope_SCOPE_USER {
		t.Fatalf("put user: %v %v", put, err)
	}
	got, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp", Username: user})
	if err != nil || got.Scope != pb.Scope_SCOPE_USER || got.Credential.Attributes["password"] != "user-pw" ||
		string(got.Credential.BinaryAttributes["blob"]) != "\xff\x00\xfe" {
		t.Fatalf("get user: %v %v", got, err)
	}
	got, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp", Username: user, Attributes: []string{"password"}})
	if err != nil || len(got.Credential.Attributes) != 1 {
		t.Fatalf("get one attribute: %v %v", got, err)
	}

	// Auto-login: missing, then stored and fetched.
	_, err = c.GetAutoLoginCredential(ctx(t), &pb.GetAutoLoginCredentialRequest{Username: "user123@rpa.abcd.com"})
	wantCode(t, err, codes.NotFound, "autologin_user123-40-rpa-2e-abcd-2e-com", `provider "store"`, "user123@rpa.abcd.com")
	if _, err := c.PutCredential(ctx(t), &pb.PutCredentialRequest{AutoLogin: true, Username: "user123@rpa.abcd.com",
		Attributes: map[string]string{"username": "user123", "password": "login-pw", "domain": "RPA"}}); err != nil {
		t.Fatal(err)
	}
	al, err := c.GetAutoLoginCredential(ctx(t), &pb.GetAutoLoginCredentialRequest{Username: "user123@rpa.abcd.com"})
	if err != nil || al.Credential.Attributes["password"] != "login-pw" || al.LoginName != "user123" {
		t.Fatalf("auto-login: %v %v", al, err)
	}

	res, err := c.ResolveName(ctx(t), &pb.ResolveNameRequest{Locker: "demo", Credential: "erp", Username: user})
	if err != nil || len(res.Candidates) != 2 || res.Candidates[0].Source.SecretName != "demo_erp_ABCD--user123" ||
		res.Candidates[1].Source.SecretName != "demo_erp" {
		t.Fatalf("resolve: %v %v", res, err)
	}

	// Errors a caller can act on.
	_, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "nope", Credential: "erp"})
	wantCode(t, err, codes.FailedPrecondition, `unknown locker "nope"`)
	_, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp", Username: strings.Repeat("x", 257)})
	wantCode(t, err, codes.InvalidArgument, "username")
	_, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "missing"})
	wantCode(t, err, codes.NotFound, `"demo_missing"`)

	if _, err := c.DeleteCredential(ctx(t), &pb.DeleteCredentialRequest{Locker: "demo", Credential: "erp", Username: user}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp", Username: user})
	if err != nil || got.Scope != pb.Scope_SCOPE_SYSTEM {
		t.Fatalf("after delete: %v %v", got.GetScope(), err)
	}

	// Reflection lists the service, so grpcurl can call it.
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.Name)
	}
	if !strings.Contains(strings.Join(services, " "), "secretbroker.v1.SecretBroker") {
		t.Fatalf("reflection lists %v", services)
	}
	d.Stop(t)

	// Nothing secret reached the logs.
	keyHex, _ := os.ReadFile(key)
	logs := d.Logs()
	for _, s := range []string{"system-pw", "user-pw", "login-pw", strings.TrimSpace(string(keyHex))} {
		if strings.Contains(logs, s) {
			t.Fatalf("daemon log carries a secret (%d bytes):\n%s", len(s), logs)
		}
	}

	// A restart reads what the first run stored, with the same key.
	d = start(t, "-data-dir", dataDir, "-listen", "127.0.0.1:0")
	c = pb.NewSecretBrokerClient(dial(t, d.Addr, dataDir))
	got, err = c.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "demo", Credential: "erp"})
	if err != nil || got.Credential.Attributes["password"] != "system-pw" {
		t.Fatalf("after restart: %v", err)
	}
	d.Stop(t)
}

// waitFor polls cond every 20ms until it holds, failing the test after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return daemontest.Run(t, binary, args...)
}

func TestWrongKeyIsOneClearLine(t *testing.T) {
	dataDir := t.TempDir()
	d := start(t, "-data-dir", dataDir, "-listen", "127.0.0.1:0")
	d.Stop(t)
	other := make([]byte, 32)
	for i := range other {
		other[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "store.key"), []byte(hex.EncodeToString(other)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := run(t, "-data-dir", dataDir, "-listen", "127.0.0.1:0")
	if code != 1 || len(errorLines(stderr)) != 1 || !strings.Contains(stderr, "store.key") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and one line naming the key file", code, stderr)
	}
	if strings.Contains(stderr, hex.EncodeToString(other)) {
		t.Fatal("the error prints the key")
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("server:\n  listen: 127.0.0.1:0\nproviders:\n  store:\n    embedded:\n      path: s.db\n      key_file: s.key\n      colour: blue\nlockers:\n  demo:\n    provider: store\n    prefix: demo\n"), 0o600)
	code, stderr := run(t, "-config", cfg, "-data-dir", dir)
	if code != 1 || !strings.Contains(stderr, "bad.yaml:8:") || !strings.Contains(stderr, "colour") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 naming bad.yaml:8 and the field", code, stderr)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a rejected configuration left files behind: %v", entries)
	}
	code, stderr = run(t, "-config", cfg, "-check-config")
	if code != 1 || !strings.Contains(stderr, "bad.yaml:8:") {
		t.Fatalf("-check-config: exit %d, stderr:\n%s", code, stderr)
	}
	code, _ = run(t, "-check-config")
	if code != 0 {
		t.Fatalf("-check-config of the default configuration: exit %d", code)
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sb.sock")
	d := start(t, "-data-dir", dir, "-listen", "unix:"+sock)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	// The OS user who started the daemon is its peer: no token needed.
	c := pb.NewSecretBrokerClient(daemontest.Dial(t, "unix:"+sock))
	if _, err := c.ListLockers(ctx(t), &pb.ListLockersRequest{}); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)
}

func errCode(err error) codes.Code { return status.Code(err) }

func statusOf(err error) (string, bool) {
	s, ok := status.FromError(err)
	if !ok || err == nil {
		return "", false
	}
	return s.Message(), true
}

// errorLines returns the lines of stderr that are the daemon's error (its
// log lines start with time=).
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "secretbrokerd: ") {
			out = append(out, l)
		}
	}
	return out
}
