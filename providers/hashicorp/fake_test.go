package hashicorp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeVault is a small Vault HTTP API double for unit tests: token lookup
// and renewal, logins, KV mount detection and KV v1/v2 reads and writes. The
// real server is exercised in test/integration.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	tokens     map[string]bool           // valid tokens
	ttl        int                       // ttl of issued and looked-up tokens
	renewable  bool                      // tokens are renewable
	renewFails bool                      // renew-self answers 403
	kvVersion  string                    // "1" or "2"
	data       map[string]map[string]any // KV v1 data, or KV v2 responses, by request path
	status     int                       // when not 0, every request answers this
	retryAfter string                    // Retry-After header of those answers
	denyPrefix string                    // paths refused to every token, by prefix
	denied     map[string]bool           // paths refused to every token
	logins     []fakeLogin
	requests   []fakeRequest
	issued     int
}

type fakeLogin struct {
	Path string
	Body map[string]any
}

type fakeRequest struct {
	Method, Path, Query, Namespace, Token string
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{t: t, tokens: map[string]bool{"root-token": true}, kvVersion: "2", data: map[string]map[string]any{}, renewable: true, denied: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVault) set(fn func(f *fakeVault)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeVault) snapshot() ([]fakeLogin, []fakeRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeLogin(nil), f.logins...), append([]fakeRequest(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	tok := r.Header.Get("X-Vault-Token")
	f.requests = append(f.requests, fakeRequest{r.Method, path, r.URL.RawQuery, r.Header.Get("X-Vault-Namespace"), tok})
	if f.status != 0 {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		writeJSON(w, f.status, map[string]any{"errors": []string{"injected failure at " + path}})
		return
	}
	if strings.HasPrefix(path, "auth/") && strings.HasSuffix(path, "/login") {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.logins = append(f.logins, fakeLogin{path, body})
		f.issued++
		newTok := "issued-" + strings.Repeat("x", f.issued)
		f.tokens[newTok] = true
		writeJSON(w, 200, map[string]any{"auth": map[string]any{"client_token": newTok, "lease_duration": f.ttl, "renewable": f.renewable}})
		return
	}
	if !f.tokens[tok] || f.denied[path] || (f.denyPrefix != "" && strings.HasPrefix(path, f.denyPrefix)) {
		writeJSON(w, 403, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	switch {
	case path == "auth/token/lookup-self":
		writeJSON(w, 200, map[string]any{"data": map[string]any{"ttl": f.ttl, "renewable": f.renewable, "id": tok}})
	case path == "auth/token/renew-self":
		if f.renewFails {
			writeJSON(w, 403, map[string]any{"errors": []string{"renewal refused"}})
			return
		}
		writeJSON(w, 200, map[string]any{"auth": map[string]any{"client_token": tok, "lease_duration": f.ttl, "renewable": f.renewable}})
	case strings.HasPrefix(path, "sys/internal/ui/mounts/"):
		opts := map[string]any{}
		if f.kvVersion == "2" {
			opts["version"] = "2"
		}
		writeJSON(w, 200, map[string]any{"data": map[string]any{"type": "kv", "options": opts, "path": "secret/"}})
	case r.Method == http.MethodGet:
		d, ok := f.data[path+"?"+r.URL.RawQuery]
		if !ok {
			d, ok = f.data[path]
		}
		if !ok {
			writeJSON(w, 404, map[string]any{"errors": []string{}})
			return
		}
		status := 200
		if inner, isV2 := d["data"]; isV2 && f.kvVersion == "2" && inner == nil {
			status = 404 // Vault's answer for a deleted or destroyed version
		}
		writeJSON(w, status, map[string]any{"data": d})
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		if f.kvVersion == "2" {
			body = map[string]any{"data": body["data"], "metadata": map[string]any{"version": 1, "created_time": "2024-05-06T07:08:09.123456789Z", "deletion_time": "", "destroyed": false}}
		}
		f.data[path] = body
		w.WriteHeader(204)
	case r.Method == http.MethodDelete:
		delete(f.data, path)
		w.WriteHeader(204)
	default:
		writeJSON(w, 405, map[string]any{"errors": []string{"unsupported"}})
	}
}

// writeFile writes content to a new file in a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenConfig is a read-only token-auth config against f.
func (f *fakeVault) tokenConfig(t *testing.T) Config {
	return Config{
		Address: f.srv.URL,
		Auth:    AuthConfig{Method: MethodToken, TokenFile: writeFile(t, "token", "root-token\n")},
	}
}
