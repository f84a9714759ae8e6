package cyberark_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/providers"
	"github.com/secretbroker/secretbroker/providers/cyberark"
	"github.com/secretbroker/secretbroker/providers/providertest"
)

// Both Config and *Config satisfy the daemon's Validator interface.
var (
	_ interface{ Validate() error } = cyberark.Config{}
	_ interface{ Validate() error } = (*cyberark.Config)(nil)
)

// TestValidateReportsEveryProblem: a block with several mistakes gets one
// error for each, in the order of the fields, and New refuses it with the
// same list.
func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := cyberark.Config{
		URL:               "http://ccp.example.com",
		WebService:        "a/b",
		QueryFormat:       "fuzzy",
		Writable:          true,
		Timeout:           -time.Second,
		ConnectionTimeout: 601,
		MaxAttempts:       11,
		Backoff:           -time.Second,
		CheckSafe:         "a\tb",
		TLS: cyberark.TLSConfig{ClientCertFile: filepath.Join(dir, "missing.pem"), ClientKeyFile: filepath.Join(dir, "missing-key.pem"),
			CAFile: empty, InsecureSkipVerifyThisIsUnsafe: true, ServerName: "ccp:443"},
	}
	want := []string{"url", "web_service", "app_id", "query_format", "writable", "timeout", "connection_timeout",
		"max_attempts", "backoff", "check_safe", "tls.client_cert_file", "tls.client_key_file",
		"tls.insecure_skip_verify_this_is_unsafe", "tls.ca_file", "tls.server_name"}
	providertest.WantConfigFields(t, cfg.Validate(), want...)
	_, err := cyberark.New(ctxT(t), cfg)
	providertest.WantConfigFields(t, err, want...)
}

func TestWritableRefused(t *testing.T) {
	err := cyberark.Config{URL: "https://ccp.example.com", AppID: "RPA", Writable: true}.Validate()
	var ce *providers.ConfigError
	if !errors.As(err, &ce) || ce.Field != "writable" || ce.Problem != "CCP is read-only" {
		t.Fatalf("writable: true: %v", err)
	}
	if err := (cyberark.Config{URL: "https://ccp.example.com", AppID: "RPA"}).Validate(); err != nil {
		t.Fatalf("minimal configuration refused: %v", err)
	}
}

// TestValidateMakesNoConnection: Validate of a complete configuration
// whose URL is a listener on loopback leaves it untouched.
func TestValidateMakesNoConnection(t *testing.T) {
	srv := startServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := baseConfig(srv)
	cfg.URL = "https://" + l.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// A connection Validate made would be waiting in the backlog.
	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Fatal("Validate connected to CCP's address")
	}
}
