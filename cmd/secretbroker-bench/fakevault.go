package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// healthCheckName is the secret name the hashicorp provider's health check
// reads; its reads are counted apart from the credentials'.
const healthCheckName = "secretbroker-health-check"

// fakeVault is the part of HashiCorp Vault's HTTP API the hashicorp
// provider uses with kv_version: 2 and a token from a file: the token's
// lookup-self and KV v2 reads under one mount. Every KV read answers after
// delay, with a credential made up from the secret's name (the health
// check's name is absent, as in a real vault); every other request answers
// at once. It serves HTTP on 127.0.0.1 in the bench's own process.
type fakeVault struct {
	token string
	mount string
	delay time.Duration

	srv *http.Server
	url string

	reads       atomic.Int64 // KV reads of credentials
	healthReads atomic.Int64 // KV reads of the health check's name
	conns       atomic.Int64 // TCP connections accepted
}

// startFakeVault listens on 127.0.0.1:0 and serves until close.
func startFakeVault(token, mount string, delay time.Duration) (*fakeVault, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeVault{token: token, mount: mount, delay: delay, url: "http://" + lis.Addr().String()}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}}
	go func() { _ = f.srv.Serve(lis) }()
	return f, nil
}

// close stops the server and its connections.
func (f *fakeVault) close() { _ = f.srv.Close() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	if r.Header.Get("X-Vault-Token") != f.token {
		writeJSON(w, http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "auth/token/lookup-self":
		// A token without TTL: the provider never renews it.
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"ttl": 0, "renewable": false, "policies": []string{"root"}}})
	case r.Method == http.MethodGet && path == "sys/internal/ui/mounts/"+f.mount:
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"type": "kv", "options": map[string]any{"version": "2"}, "path": f.mount + "/"}})
	case r.Method == http.MethodGet && strings.HasPrefix(path, f.mount+"/data/"):
		f.read(w, r, path[strings.LastIndex(path, "/")+1:])
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
	}
}

// read answers a KV v2 read of name after the delay.
func (f *fakeVault) read(w http.ResponseWriter, r *http.Request, name string) {
	if name == healthCheckName {
		f.healthReads.Add(1)
	} else {
		f.reads.Add(1)
	}
	t := time.NewTimer(f.delay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
		return
	}
	if name == healthCheckName {
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
		return
	}
	data := map[string]any{}
	for k, v := range typicalCredential(name) {
		data[k] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"data":     data,
		"metadata": map[string]any{"version": 1, "created_time": "2026-01-02T03:04:05.000000000Z", "deletion_time": "", "destroyed": false},
	}})
}
