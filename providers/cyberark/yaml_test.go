package cyberark_test

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secretbroker/secretbroker/providers/cyberark"
)

// TestYAML decodes every field the way the daemon does (unknown fields
// rejected), so that a renamed tag shows here.
func TestYAML(t *testing.T) {
	const doc = `
url: https://ccp.example.com
web_service: AIMWebServiceCert
app_id: secretbroker
folder: Root\RPA
query_format: exact
connection_timeout: 10
tls:
  client_cert_file: /etc/sb/client.pem
  client_key_file: /etc/sb/client-key.pem
  ca_file: /etc/sb/ca.pem
  server_name: ccp.example.com
  insecure_skip_verify_this_is_unsafe: false
writable: false
timeout: 20s
max_attempts: 5
backoff: 250ms
serve_during_change: true
check_safe: RPA-Health
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var cfg cyberark.Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := cyberark.Config{
		URL: "https://ccp.example.com", WebService: "AIMWebServiceCert", AppID: "secretbroker",
		Folder: `Root\RPA`, QueryFormat: "exact", ConnectionTimeout: 10,
		TLS: cyberark.TLSConfig{ClientCertFile: "/etc/sb/client.pem", ClientKeyFile: "/etc/sb/client-key.pem",
			CAFile: "/etc/sb/ca.pem", ServerName: "ccp.example.com"},
		Timeout:     20 * time.Second,
		MaxAttempts: 5, Backoff: 250 * time.Millisecond, ServeDuringChange: true,
		CheckSafe: "RPA-Health",
	}
	if cfg != want {
		t.Errorf("decoded %+v\nwant    %+v", cfg, want)
	}

	// A shorter spelling of the insecure flag, and the old spellings of
	// the settings that every provider block now names alike, are refused.
	for _, bad := range []string{
		"tls: {insecure_skip_verify: true}\n",
		"client_certificate_file: /etc/sb/client.pem\n", "client_key_file: /etc/sb/k.pem\n",
		"ca_file: /etc/sb/ca.pem\n", "server_name: ccp\n", "insecure_skip_verify_this_is_unsafe: true\n",
		"request_timeout: 20s\n", "retries: {attempts: 5}\n", "tls: {client_certificate_file: /etc/sb/c.pem}\n",
	} {
		dec = yaml.NewDecoder(strings.NewReader("url: https://x\n" + bad))
		dec.KnownFields(true)
		if err := dec.Decode(&cyberark.Config{}); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
