package azuretest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var sharedCert = sync.OnceValue(func() *ClientCertificate {
	c, err := NewClientCertificate()
	if err != nil {
		panic(err)
	}
	return c
})

func newTestServer(t *testing.T) (*Server, *http.Client) {
	t.Helper()
	s := NewServer(t, Options{ClientCertificate: sharedCert()})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext:     s.DialContext,
	}}
	t.Cleanup(c.CloseIdleConnections)
	return s, c
}

type assertion struct {
	alg, thumbKey string
	key           *rsa.PrivateKey
	cert          *x509.Certificate
	claims        map[string]any
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a assertion) sign(t *testing.T) string {
	t.Helper()
	var thumb []byte
	if a.thumbKey == "x5t" {
		s := sha1.Sum(a.cert.Raw)
		thumb = s[:]
	} else {
		s := sha256.Sum256(a.cert.Raw)
		thumb = s[:]
	}
	body := b64(map[string]any{"alg": a.alg, "typ": "JWT", a.thumbKey: base64.StdEncoding.EncodeToString(thumb)}) + "." + b64(a.claims)
	digest := sha256.Sum256([]byte(body))
	var sig []byte
	var err error
	switch a.alg {
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, a.key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, digest[:])
	default:
		sig = []byte("unsigned")
	}
	if err != nil {
		t.Fatal(err)
	}
	return body + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func tokenEndpoint(s *Server) string {
	return "https://" + PublicAuthorityHost + "/" + s.TenantID + "/oauth2/v2.0/token"
}

func validClaims(s *Server) map[string]any {
	now := time.Now()
	return map[string]any{
		"aud": tokenEndpoint(s), "iss": s.ClientID, "sub": s.ClientID, "jti": randomHex(8),
		"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

func postToken(t *testing.T, c *http.Client, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := c.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func TestTokenEndpointChecksAssertions(t *testing.T) {
	s, c := newTestServer(t)
	other, err := NewClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	good := assertion{alg: "PS256", thumbKey: "x5t#S256", key: s.cert.Key, cert: s.cert.Cert, claims: validClaims(s)}
	with := func(f func(a *assertion)) assertion {
		a := good
		a.claims = validClaims(s)
		f(&a)
		return a
	}
	cases := []struct {
		name   string
		a      assertion
		status int
		code   float64
	}{
		{"PS256", good, 200, 0},
		{"RS256-x5t", with(func(a *assertion) { a.alg, a.thumbKey = "RS256", "x5t" }), 200, 0},
		{"UnregisteredCertificate", with(func(a *assertion) { a.key, a.cert = other.Key, other.Cert }), 401, 700027},
		{"SignedByAnotherKey", with(func(a *assertion) { a.key = other.Key }), 401, 7000274},
		{"AlgNone", with(func(a *assertion) { a.alg = "none" }), 401, 5002738},
		{"WrongAudience", with(func(a *assertion) { a.claims["aud"] = "https://elsewhere/token" }), 401, 700212},
		{"WrongIssuer", with(func(a *assertion) { a.claims["iss"] = "someone-else" }), 401, 700021},
		{"Expired", with(func(a *assertion) { a.claims["exp"] = time.Now().Add(-time.Minute).Unix() }), 401, 700024},
		{"NotYetValid", with(func(a *assertion) { a.claims["nbf"] = time.Now().Add(time.Hour).Unix() }), 401, 700024},
		{"NoJTI", with(func(a *assertion) { delete(a.claims, "jti") }), 401, 700023},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := postToken(t, c, tokenEndpoint(s), url.Values{
				"grant_type":            {"client_credentials"},
				"client_id":             {s.ClientID},
				"scope":                 {"https://vault.azure.net/.default"},
				"client_assertion_type": {assertionType},
				"client_assertion":      {tc.a.sign(t)},
			})
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if tc.status == 200 {
				if out["token_type"] != "Bearer" || out["access_token"] == "" || out["expires_in"] == nil {
					t.Errorf("token answer %v", out)
				}
				return
			}
			codes, _ := out["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tc.code || out["error"] != "invalid_client" {
				t.Errorf("error %v, want AADSTS%v invalid_client", out, tc.code)
			}
		})
	}
}

func TestTokenEndpointRequests(t *testing.T) {
	s, c := newTestServer(t)
	base := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID},
		"scope": {"https://vault.azure.net/.default"}, "client_secret": {s.ClientSecret}}
	set := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range base {
			f[key] = vals
		}
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		name     string
		endpoint string
		form     url.Values
		status   int
	}{
		{"Secret", tokenEndpoint(s), base, 200},
		{"WrongSecret", tokenEndpoint(s), set("client_secret", "nope"), 401},
		{"UnknownClient", tokenEndpoint(s), set("client_id", "c0ffee00-0000-0000-0000-000000000000"), 400},
		{"UnknownTenant", "https://" + PublicAuthorityHost + "/other-tenant/oauth2/v2.0/token", base, 400},
		{"UnknownResource", tokenEndpoint(s), set("scope", "https://storage.azure.com/.default"), 400},
		{"NoDefaultScope", tokenEndpoint(s), set("scope", "https://vault.azure.net/user_impersonation"), 400},
		{"WrongGrant", tokenEndpoint(s), set("grant_type", "password"), 400},
		{"LoopbackResource", s.URL() + "/" + s.TenantID + "/oauth2/v2.0/token", set("scope", s.resourceFor(s.Addr())+"/.default"), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := postToken(t, c, tc.endpoint, tc.form)
			if status != tc.status {
				t.Errorf("status %d, want %d: %v", status, tc.status, out)
			}
			if status != 200 && !strings.HasPrefix(out["error_description"].(string), "AADSTS") {
				t.Errorf("error_description %v", out["error_description"])
			}
		})
	}
	if got := s.TokenRequests(); got != 8 {
		t.Errorf("TokenRequests %d, want 8", got)
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	s, c := newTestServer(t)
	resp, err := c.Get(s.AuthorityHost() + s.TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out["token_endpoint"] != s.URL()+"/"+s.TenantID+"/oauth2/v2.0/token" || out["issuer"] != s.URL()+"/"+s.TenantID+"/v2.0" {
		t.Errorf("openid configuration %v", out)
	}
}

func vaultGet(t *testing.T, c *http.Client, rawURL, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestVaultChecksTokens(t *testing.T) {
	s, c := newTestServer(t)
	s.Seed("a", "pw", "", nil, true, time.Time{})
	u := s.VaultURL() + "/secrets/a?api-version=2026-04-01"

	resp, body := vaultGet(t, c, u, "")
	want := `Bearer authorization="https://login.microsoftonline.com/` + s.TenantID + `", resource="https://vault.azure.net"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if !strings.Contains(body, `"code":"Unauthorized"`) {
		t.Errorf("body %s", body)
	}
	// Loopback requests name the resource that passes the SDK's check.
	resp, _ = vaultGet(t, c, s.LoopbackVaultURL()+"/secrets/a?api-version=2026-04-01", "")
	_, port, _ := strings.Cut(s.Addr(), ":")
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasSuffix(got, `resource="https://0.0.1:`+port+`"`) {
		t.Errorf("loopback challenge %q", got)
	}

	good, err := s.issueToken("https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := vaultGet(t, c, u, good); resp.StatusCode != 200 || !strings.Contains(body, `"value":"pw"`) {
		t.Fatalf("good token: %d %s", resp.StatusCode, body)
	}
	forged := good[:len(good)-4] + "AAAA"
	otherAudience, _ := s.issueToken(s.resourceFor(s.Addr()))
	s.tokenTTL = -time.Minute
	expired, _ := s.issueToken("https://vault.azure.net")
	s.tokenTTL = time.Hour
	for name, tok := range map[string]string{"forged": forged, "audience": otherAudience, "expired": expired, "garbage": "x.y.z"} {
		if resp, _ := vaultGet(t, c, u, tok); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s token: status %d, want a 401 challenge", name, resp.StatusCode)
		}
	}
	if resp, _ := vaultGet(t, c, s.VaultURL()+"/secrets/a", good); resp.StatusCode != 400 {
		t.Errorf("no api-version: status %d", resp.StatusCode)
	}
}

func TestVaultOperations(t *testing.T) {
	s, c := newTestServer(t)
	tok, _ := s.issueToken("https://vault.azure.net")
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, s.VaultURL()+path+"?api-version=2026-04-01", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	errCode := func(out map[string]any) string {
		e, _ := out["error"].(map[string]any)
		code, _ := e["code"].(string)
		if inner, ok := e["innererror"].(map[string]any); ok {
			code += "/" + inner["code"].(string)
		}
		return code
	}
	if st, out := do("PUT", "/secrets/Cred-1", `{"value":"v1","contentType":"text/plain","tags":{"username":"u"}}`); st != 200 || out["value"] != "v1" {
		t.Fatalf("PUT: %d %v", st, out)
	}
	st, out := do("GET", "/secrets/cred-1/", "")
	if st != 200 || out["value"] != "v1" || out["contentType"] != "text/plain" || !strings.Contains(out["id"].(string), "/secrets/Cred-1/") {
		t.Fatalf("GET (names compare without case): %d %v", st, out)
	}
	if st, out := do("PUT", "/secrets/big", `{"value":"`+strings.Repeat("x", maxValueBytes+1)+`"}`); st != 400 {
		t.Errorf("PUT over 25 KB: %d %v", st, out)
	}
	if st, out := do("GET", "/secrets/bad_name", ""); st != 400 {
		t.Errorf("GET bad name: %d %v", st, out)
	}
	s.Disable("Cred-1")
	if st, out := do("GET", "/secrets/Cred-1", ""); st != 403 || errCode(out) != "Forbidden/SecretDisabled" {
		t.Errorf("GET disabled: %d %v", st, out)
	}
	if st, out := do("DELETE", "/secrets/Cred-1", ""); st != 200 || out["recoveryId"] == nil || out["value"] != nil {
		t.Errorf("DELETE: %d %v", st, out)
	}
	if st, out := do("GET", "/secrets/Cred-1", ""); st != 404 || errCode(out) != "SecretNotFound" {
		t.Errorf("GET deleted: %d %v", st, out)
	}
	if st, _ := do("GET", "/deletedsecrets/Cred-1", ""); st != 200 {
		t.Errorf("GET deletedsecrets: %d", st)
	}
	if st, out := do("PUT", "/secrets/Cred-1", `{"value":"v2"}`); st != 409 || errCode(out) != "Conflict/ObjectIsDeletedButRecoverable" {
		t.Errorf("PUT over a deleted secret: %d %v", st, out)
	}
	if st, _ := do("DELETE", "/secrets/Cred-1", ""); st != 404 {
		t.Errorf("second DELETE: %d", st)
	}
	if got := s.Names(); len(got) != 0 {
		t.Errorf("Names %v", got)
	}
}

func TestDialContextRefusesOtherHosts(t *testing.T) {
	s, _ := newTestServer(t)
	for _, addr := range []string{"example.com:443", "myvault.vault.azure.net:80", "10.0.0.1:443", "othervault.vault.azure.net:443"} {
		if conn, err := s.DialContext(t.Context(), "tcp", addr); err == nil {
			conn.Close()
			t.Errorf("DialContext(%s) connected", addr)
		}
	}
}

func TestHungReleasedByClose(t *testing.T) {
	s := NewServer(t, Options{ClientCertificate: sharedCert()})
	s.SetFault(Hung)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	done := make(chan error, 1)
	go func() {
		resp, err := c.Get(s.LoopbackVaultURL() + "/secrets/a?api-version=1")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Requests() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close() // must not wait for the hung request forever
	<-done
}
