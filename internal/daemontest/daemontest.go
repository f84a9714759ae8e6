// Package daemontest builds secretbrokerd and runs it as a separate process
// for tests, so that what crosses the process boundary (flags, the
// configuration file, signals, the gRPC port) is tested across it.
package daemontest

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Package is the import path of the daemon's main package.
const Package = "github.com/secretbroker/secretbroker/cmd/secretbrokerd"

// Build builds secretbrokerd into a temporary directory and returns the
// binary's path. It builds in the main module's directory, so the daemon is
// built with the main module's dependencies even when the calling test
// lives in another module (test/integration).
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "secretbrokerd")
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("daemontest: cannot find its own source file")
	}
	cmd := exec.Command("go", "build", "-o", bin, Package)
	cmd.Dir = filepath.Join(filepath.Dir(self), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building secretbrokerd: %v\n%s", err, out)
	}
	return bin
}

// Daemon is a running secretbrokerd.
type Daemon struct {
	// Addr is where it listens, as it printed it.
	Addr string
	// AdminAddr is where its admin HTTP listener listens (host:port), ""
	// when it is off.
	AdminAddr string
	cmd       *exec.Cmd
	logs      *buffer
	done      chan error
}

var (
	listening = regexp.MustCompile(`^secretbrokerd listening on (\S+)`)
	adminLine = regexp.MustCompile(`^secretbrokerd admin \(metrics, health\) on http://(\S+)`)
)

// Start runs bin with args (and env added to this process's environment)
// and waits until it prints where it listens. The process is killed when
// the test ends, if Stop did not end it.
func Start(t testing.TB, bin string, env []string, args ...string) *Daemon {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cmd: cmd, logs: &buffer{}, done: make(chan error, 1)}
	cmd.Stderr = d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	var admin string
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := adminLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				admin = m[1]
			}
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addrs <- m[1]
				sent = true
			}
		}
		close(addrs)
		io.Copy(io.Discard, stdout)
	}()
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = cmd.Process.Kill()
			<-d.done
		}
	})
	select {
	case addr, ok := <-addrs:
		if !ok {
			err := <-d.done
			d.done <- err
			t.Fatalf("secretbrokerd exited before listening: %v\n%s", err, d.Logs())
		}
		d.Addr, d.AdminAddr = addr, admin
	case <-time.After(2 * time.Minute):
		t.Fatalf("secretbrokerd did not start listening\n%s", d.Logs())
	}
	return d
}

// Stop sends SIGTERM and fails the test unless the daemon exits cleanly.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("secretbrokerd exited with %v after SIGTERM\n%s", err, d.Logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("secretbrokerd did not stop after SIGTERM\n%s", d.Logs())
	}
}

// Logs returns what the daemon wrote to its standard error so far.
func (d *Daemon) Logs() string { return d.logs.String() }

// Run runs bin to completion (for runs expected to fail at once) and
// returns its exit code and standard error.
func Run(t testing.TB, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// Dial returns a plaintext gRPC connection to addr without credentials,
// closed when the test ends.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	if strings.HasPrefix(addr, "unix:") {
		addr = "unix://" + strings.TrimPrefix(addr, "unix:")
	}
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// DialToken returns a plaintext gRPC connection to a loopback addr that
// sends token as a bearer token on every call.
func DialToken(t testing.TB, addr, token string) *grpc.ClientConn {
	t.Helper()
	return Dial(t, addr, grpc.WithPerRPCCredentials(Bearer(token)))
}

// Bearer is a per-call credential sending "authorization: Bearer TOKEN",
// also over plaintext (tests dial loopback only).
type Bearer string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (Bearer) RequireTransportSecurity() bool { return false }

// AdminToken reads the local admin token the daemon created in dataDir.
func AdminToken(t testing.TB, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatalf("reading the local admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Exited reports whether the daemon has exited, without waiting.
func (d *Daemon) Exited() bool {
	select {
	case err := <-d.done:
		d.done <- err
		return true
	default:
		return false
	}
}

// buffer is a strings.Builder safe for the concurrent writes of a process's
// output and the test's reads.
type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
