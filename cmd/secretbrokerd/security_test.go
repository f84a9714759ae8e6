package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/internal/daemontest"
	"github.com/secretbroker/secretbroker/internal/testpki"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// The tokens and values of these tests are distinctive, so that a leak
// anywhere (log, audit, error, metric) is found by a plain search.
const (
	botToken    = "tok-BOTPOOL-7f3a9c-do-not-leak"
	floodToken  = "tok-FLOODER-51bb02-do-not-leak"
	vaultToken  = "hvs.VAULTTOKEN-9d2e61-do-not-leak"
	systemValue = "pw-SYSTEM-e81d44-do-not-leak"
	userValue   = "pw-USER-0c9a17-do-not-leak"
)

// vaultTokenFile writes the (distinctive) token of the vault that is down.
func vaultTokenFile(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "vault.token")
	if err := os.WriteFile(f, []byte(vaultToken), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func sha(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(h[:])
}

// securityConfig is a production-like configuration: tokens by hash, a
// default-deny policy for two bot pools, an audit file.
func securityConfig(t *testing.T, dir, extraServer string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
%s
auth:
  tokens:
    - {identity: bot-pool-a, sha256: %q}
    - {identity: flooder, sha256: %q}
policy:
  default_rate_limit: {rps: 1000, burst: 1000}
  clients:
    - name: bot-pool-a
      identities: [bot-pool-a, "spiffe://corp.example/rpa/bot-pool-a"]
      operations: [credential, list]
      lockers: [finance]
      usernames: ['ABCD\bot-*']
    - name: flooder
      identities: [flooder]
      operations: [credential]
      lockers: [finance]
      rate_limit: {rps: 1, burst: 5}
audit: {path: audit.log}
providers:
  store:
    embedded: {path: store.db, key_file: store.key, create: true}
  down:                           # a vault nobody answers for (a closed loopback port)
    hashicorp: {address: "http://127.0.0.1:9", mount: secret, kv_version: 2, auth: {method: token, token_file: %s}}
    protection: {max_attempts: 1, timeout: 2s}
lockers:
  finance: {provider: store, prefix: accounting}
  hr: {provider: store, prefix: hr}
  outage: {provider: down, prefix: x}
autologin: {provider: store}
`, extraServer, sha(botToken), sha(floodToken), vaultTokenFile(t, dir))
	path := filepath.Join(dir, "secretbroker.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAccessControl(t *testing.T) {
	dir := t.TempDir()
	d := start(t, "-config", securityConfig(t, dir, ""), "-data-dir", dir)
	admin := pb.NewSecretBrokerClient(dial(t, d.Addr, dir))
	for _, p := range []*pb.PutCredentialRequest{
		{Locker: "finance", Credential: "erp", Attributes: map[string]string{"username": "sys", "password": systemValue}},
		{Locker: "finance", Credential: "erp", Username: `ABCD\user123`, Attributes: map[string]string{"password": userValue}},
		{Locker: "hr", Credential: "erp", Attributes: map[string]string{"password": systemValue}},
	} {
		if _, err := admin.PutCredential(ctx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	anon := pb.NewSecretBrokerClient(daemontest.Dial(t, d.Addr))
	bot := pb.NewSecretBrokerClient(daemontest.DialToken(t, d.Addr, botToken))
	flood := pb.NewSecretBrokerClient(daemontest.DialToken(t, d.Addr, floodToken))
	wrong := pb.NewSecretBrokerClient(daemontest.DialToken(t, d.Addr, "tok-WRONG-a1b2c3"))

	// No credentials, or a token the daemon does not know: Unauthenticated.
	_, err := anon.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"})
	wantCode(t, err, codes.Unauthenticated)
	_, err = wrong.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"})
	wantCode(t, err, codes.Unauthenticated)
	// Health needs none.
	if _, err := healthpb.NewHealthClient(daemontest.Dial(t, d.Addr)).Check(ctx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without credentials: %v", err)
	}

	// Not found, and a vault that is down: the caller learns the code and
	// the names tried, nothing more.
	_, err = admin.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "missing"})
	wantCode(t, err, codes.NotFound, `"accounting_missing"`)
	_, err = admin.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "outage", Credential: "erp"})
	wantCode(t, err, codes.Unavailable)
	if strings.Contains(errMessage(err), "127.0.0.1:9") {
		t.Fatalf("the vault's address reached the caller: %s", errMessage(err))
	}

	// A bot asking for another user's credential is denied before any name
	// is computed; its own user gets the system credential.
	_, err = bot.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp", Username: `ABCD\user123`})
	wantCode(t, err, codes.PermissionDenied, `for user "ABCD\\user123"`)
	got, err := bot.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp", Username: `ABCD\bot-7`})
	if err != nil || got.Scope != pb.Scope_SCOPE_SYSTEM {
		t.Fatalf("own user: %v %v", got.GetScope(), err)
	}
	// A locker outside its grant reads exactly like one that does not exist.
	_, err1 := bot.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "hr", Credential: "erp"})
	_, err2 := bot.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "nope", Credential: "erp"})
	wantCode(t, err1, codes.PermissionDenied)
	wantCode(t, err2, codes.PermissionDenied)
	m1 := strings.Replace(errMessage(err1), `"hr"`, `"X"`, -1)
	m2 := strings.Replace(errMessage(err2), `"nope"`, `"X"`, -1)
	if m1 != m2 {
		t.Fatalf("denied and missing differ:\n%s\n%s", m1, m2)
	}
	// ListLockers shows only what it may use; writes are not granted.
	ls, err := bot.ListLockers(ctx(t), &pb.ListLockersRequest{})
	if err != nil || len(ls.Lockers) != 1 || ls.Lockers[0].Name != "finance" {
		t.Fatalf("lockers %v %v", ls, err)
	}
	_, err = bot.DeleteCredential(ctx(t), &pb.DeleteCredentialRequest{Locker: "finance", Credential: "erp"})
	wantCode(t, err, codes.PermissionDenied)
	_, err = bot.GetAutoLoginCredential(ctx(t), &pb.GetAutoLoginCredentialRequest{Username: `ABCD\bot-7`})
	wantCode(t, err, codes.PermissionDenied)

	// A flood from one client is cut at its bucket; the other client is not.
	limited := 0
	for i := 0; i < 20; i++ {
		_, err := flood.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"})
		if errCode(err) == codes.ResourceExhausted {
			limited++
		}
	}
	if limited < 10 {
		t.Fatalf("%d of 20 flood requests limited, want most of them", limited)
	}
	if _, err := bot.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: "finance", Credential: "erp"}); err != nil {
		t.Fatalf("the other client was limited too: %v", err)
	}

	// Hostile input is refused cheaply, with short messages.
	_, err = bot.GetCredential(ctx(t), &pb.GetCredentialRequest{Locker: strings.Repeat("L", 1_000_000), Credential: "erp"})
	wantCode(t, err, codes.InvalidArgument, "locker is 1000000 bytes long")
	if n := len(errMessage(err)); n > 300 {
		t.Fatalf("message for a 1 MB locker name is %d bytes", n)
	}
	_, err = invokeRaw(t, d.Addr, botToken, "/secretbroker.v1.SecretBroker/GetCredential", rawRequest(1, "fin\xffance", 2, "erp"))
	wantCode(t, err, codes.InvalidArgument, "field locker is not valid UTF-8")

	// The metrics hold no token, no value, no name a caller typed.
	resp, err := http.Get("http://" + d.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `secretbroker_requests_total{code="PermissionDenied",decision="denied",operation="credential"}`) {
		t.Errorf("metrics lack the denied requests:\n%.2000s", metrics)
	}
	d.Stop(t)

	// The audit file: one line per request, the decisions, and no secret.
	auditFile := filepath.Join(dir, "audit.log")
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	// Unauthenticated calls never reach the broker: they are in the log.
	if strings.Count(d.Logs(), "grpc call not authenticated") < 2 {
		t.Errorf("the log lacks the two unauthenticated calls:\n%s", d.Logs())
	}
	for _, want := range []string{`"identity":"bot-pool-a"`, `"decision":"denied"`, `"decision":"limited"`, `"auth_method":"token"`,
		`"rule":"clients[0] bot-pool-a"`, `"code":"NotFound"`, `"code":"Unavailable"`} {
		if !strings.Contains(text, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	fi, _ := os.Stat(auditFile)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v", fi.Mode().Perm())
	}
	for _, where := range map[string]string{"log": d.Logs(), "audit": text, "metrics": string(metrics)} {
		for _, secret := range []string{botToken, floodToken, vaultToken, systemValue, userValue, "tok-WRONG-a1b2c3", strings.Repeat("L", 100)} {
			if strings.Contains(where, secret) {
				t.Fatalf("a secret or a long input (%.20s...) leaked", secret)
			}
		}
	}
	rep, err := audit.Verify([]string{auditFile})
	if err != nil {
		t.Fatalf("the untouched audit file does not verify: %v", err)
	}
	if want := strings.Count(text, "\n"); rep.Lines != want {
		t.Fatalf("verified %d lines of %d", rep.Lines, want)
	}
	// Remove one line, then edit one: verify finds each.
	lines := strings.SplitAfter(text, "\n")
	removed := filepath.Join(t.TempDir(), "removed.log")
	os.WriteFile(removed, []byte(strings.Join(append(append([]string{}, lines[:3]...), lines[4:]...), "")), 0o600)
	if _, err := audit.Verify([]string{removed}); err == nil {
		t.Fatal("a removed line was not found")
	}
	edited := filepath.Join(t.TempDir(), "edited.log")
	os.WriteFile(edited, []byte(strings.Replace(text, `"decision":"denied"`, `"decision":"allowed"`, 1)), 0o600)
	if _, err := audit.Verify([]string{edited}); err == nil {
		t.Fatal("an edited line was not found")
	}
}

func errMessage(err error) string {
	if s, ok := statusOf(err); ok {
		return s
	}
	return ""
}

// rawRequest encodes string fields by number without UTF-8 checks, as a
// hostile client can.
func rawRequest(kv ...any) []byte {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = protowire.AppendTag(b, protowire.Number(kv[i].(int)), protowire.BytesType)
		b = protowire.AppendString(b, kv[i+1].(string))
	}
	return b
}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func invokeRaw(t *testing.T, addr, token, method string, req []byte) ([]byte, error) {
	t.Helper()
	conn := daemontest.DialToken(t, addr, token)
	var out []byte
	err := conn.Invoke(ctx(t), method, req, &out, grpc.ForceCodec(rawCodec{}))
	return out, err
}

func TestMTLSAndRotation(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.Must(testpki.NewCA("secretbroker test CA"))
	other := testpki.Must(testpki.NewCA("someone else"))
	srv := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "secretbrokerd", Server: true}))
	certFile, keyFile := must2(srv.WriteFiles(dir, "server"))
	caFile := testpki.Must(testpki.WritePEM(dir, "ca.crt", ca.CertPEM()))
	spiffe, _ := url.Parse("spiffe://corp.example/rpa/bot-pool-a")
	client := testpki.Must(ca.Issue(testpki.LeafOptions{CommonName: "ignored-cn", URIs: []*url.URL{spiffe}, Client: true}))
	stranger := testpki.Must(other.Issue(testpki.LeafOptions{CommonName: "bot-pool-a", Client: true}))
	tlsBlock := fmt.Sprintf("  tls: {cert_file: %s, key_file: %s, client_ca_file: %s}", certFile, keyFile, caFile)
	d := start(t, "-config", securityConfig(t, dir, tlsBlock), "-data-dir", dir)

	dialCert := func(leaf *testpki.Leaf, roots *testpki.CA) pb.SecretBrokerClient {
		cfg := &tls.Config{RootCAs: roots.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{leaf.TLS}}
		conn, err := grpc.NewClient(d.Addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return pb.NewSecretBrokerClient(conn)
	}
	// A trusted client certificate: its URI SAN is the identity.
	ls, err := dialCert(client, ca).ListLockers(ctx(t), &pb.ListLockersRequest{})
	if err != nil || len(ls.Lockers) != 1 {
		t.Fatalf("trusted client: %v %v", ls, err)
	}
	// An untrusted one fails the handshake.
	_, err = dialCert(stranger, ca).ListLockers(ctx(t), &pb.ListLockersRequest{})
	wantCode(t, err, codes.Unavailable)

	// Rotation: a new server certificate from a new CA, and a client CA
	// that now trusts "someone else"; picked up without a restart.
	ca2 := testpki.Must(testpki.NewCA("secretbroker test CA 2"))
	srv2 := testpki.Must(ca2.Issue(testpki.LeafOptions{CommonName: "secretbrokerd-2", Server: true}))
	writeAtomically(t, certFile, srv2.CertPEM)
	writeAtomically(t, keyFile, srv2.KeyPEM)
	writeAtomically(t, caFile, other.CertPEM())
	waitFor(t, "the rotated certificate", func() bool {
		_, err := dialCert(stranger, ca2).ListLockers(ctx(t), &pb.ListLockersRequest{})
		return errCode(err) == codes.PermissionDenied || err == nil
	})
	if _, err := dialCert(client, ca2).ListLockers(ctx(t), &pb.ListLockersRequest{}); errCode(err) != codes.Unavailable {
		t.Fatalf("the old client CA is still trusted: %v", err)
	}
	d.Stop(t)
	if !strings.Contains(d.Logs(), "TLS certificate files reloaded") {
		t.Errorf("no reload in the log:\n%s", d.Logs())
	}
}

func must2(a, b string, err error) (string, string) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A distinct mtime, whatever the file system's resolution.
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(tmp, future, future)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestPlaintextOffLoopbackRefused(t *testing.T) {
	dir := t.TempDir()
	// The daemon refuses before it binds anything.
	code, stderr := run(t, "-data-dir", dir, "-listen", "0.0.0.0:0", "-admin-listen", "off")
	if code != 1 || len(errorLines(stderr)) != 1 || !strings.Contains(stderr, "server.tls.cert_file") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and one line saying how to configure TLS", code, stderr)
	}
}

func TestDataDirChecks(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	code, stderr := run(t, "-data-dir", dir, "-listen", "127.0.0.1:0", "-admin-listen", "off")
	if code != 1 || !strings.Contains(stderr, "writable by group or others") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
