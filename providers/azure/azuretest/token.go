package azuretest

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Token endpoint answers.

const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	clockSkew     = 5 * time.Minute
)

// aadError writes a Microsoft Entra error answer.
func aadError(w http.ResponseWriter, status int, code, description string, aadsts int) {
	now := time.Now().UTC()
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, description, uuid(), uuid(), now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          uuid(),
		"correlation_id":    uuid(),
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

func uuid() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) knownTenant(tenant string) bool { return strings.EqualFold(tenant, s.TenantID) }

// serveOpenIDConfiguration answers MSAL's tenant discovery.
func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet {
		aadError(w, http.StatusMethodNotAllowed, "invalid_request", "The request method is not supported.", 900561)
		return
	}
	if !s.knownTenant(tenant) {
		aadError(w, http.StatusBadRequest, "invalid_tenant", fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant), 90002)
		return
	}
	base := "https://" + r.Host + "/" + s.TenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// serveInstanceDiscovery answers MSAL's instance discovery, for clients
// that do not disable it (they reach it through DialContext as
// login.microsoftonline.com).
func (s *Server) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + s.TenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// serveToken is the client credentials grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		aadError(w, http.StatusMethodNotAllowed, "invalid_request", "The request method must be POST.", 900561)
		return
	}
	if !s.knownTenant(tenant) {
		aadError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant), 90002)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", "The request body must be application/x-www-form-urlencoded.", 900144)
		return
	}
	f := r.PostForm
	if g := f.Get("grant_type"); g != "client_credentials" {
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("The provided value for the input parameter 'grant_type' is not valid: %q.", g), 70003)
		return
	}
	clientID := f.Get("client_id")
	if clientID == "" {
		aadError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the following parameter: 'client_id'.", 900144)
		return
	}
	if !strings.EqualFold(clientID, s.ClientID) {
		aadError(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, s.TenantID), 700016)
		return
	}
	resource := ""
	for _, sc := range strings.Fields(f.Get("scope")) {
		if strings.HasSuffix(sc, "/.default") {
			resource = strings.TrimSuffix(sc, "/.default")
		}
	}
	if resource == "" {
		aadError(w, http.StatusBadRequest, "invalid_scope", "The provided value for the input parameter 'scope' is not valid. The scope must end with /.default for the client credentials flow.", 1002012)
		return
	}
	if !s.knownResource(resource) {
		aadError(w, http.StatusBadRequest, "invalid_resource", fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", resource, s.TenantID), 500011)
		return
	}

	switch {
	case f.Get("client_assertion_type") != "" || f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != assertionType {
			aadError(w, http.StatusBadRequest, "invalid_request", "The client_assertion_type is not supported.", 50027)
			return
		}
		assertion := f.Get("client_assertion")
		if subtle.ConstantTimeCompare([]byte(assertion), []byte(s.federated)) == 1 {
			break // a federated (workload identity) token
		}
		endpoint := "https://" + r.Host + r.URL.Path
		if code, msg := s.verifyAssertion(assertion, endpoint); code != 0 {
			aadError(w, http.StatusUnauthorized, "invalid_client", msg, code)
			return
		}
	case f.Get("client_secret") != "":
		if subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.ClientSecret)) != 1 {
			aadError(w, http.StatusUnauthorized, "invalid_client", fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.ClientID), 7000215)
			return
		}
	default:
		aadError(w, http.StatusBadRequest, "invalid_client", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", 7000218)
		return
	}

	token, err := s.issueToken(resource)
	if err != nil {
		aadError(w, http.StatusInternalServerError, "server_error", "Token issuance failed.", 90033)
		return
	}
	secs := int(s.tokenTTL/time.Second) - 1
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   token,
	})
}

// Client assertion verification.

type jwtHeader struct {
	Alg     string   `json:"alg"`
	Typ     string   `json:"typ"`
	X5t     string   `json:"x5t"`
	X5tS256 string   `json:"x5t#S256"`
	X5c     []string `json:"x5c"`
}

type assertionClaims struct {
	Aud audience    `json:"aud"`
	Iss string      `json:"iss"`
	Sub string      `json:"sub"`
	Jti string      `json:"jti"`
	Exp json.Number `json:"exp"`
	Nbf json.Number `json:"nbf"`
}

// audience is a JWT aud: a string or an array of strings.
type audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("bad base64")
}

func unixClaim(n json.Number) (time.Time, bool) {
	if n == "" {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// verifyAssertion checks a certificate client assertion and returns the
// AADSTS code and message of its first fault, or 0.
func (s *Server) verifyAssertion(assertion, endpoint string) (int, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return 50027, "JWT token is invalid or malformed."
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	cert := s.cert.Cert
	switch {
	case h.X5tS256 != "":
		tp, err := decodeB64(h.X5tS256)
		sum := sha256.Sum256(cert.Raw)
		if err != nil || !bytes.Equal(tp, sum[:]) {
			return 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", hexUpper(tp))
		}
	case h.X5t != "":
		tp, err := decodeB64(h.X5t)
		sum := sha1.Sum(cert.Raw)
		if err != nil || !bytes.Equal(tp, sum[:]) {
			return 700027, fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", hexUpper(tp))
		}
	default:
		return 700027, "Client assertion contains no x5t or x5t#S256 header naming the certificate."
	}
	if len(h.X5c) > 0 {
		der, err := base64.StdEncoding.DecodeString(h.X5c[0])
		if err != nil || !bytes.Equal(der, cert.Raw) {
			return 700027, "The x5c header does not start with the registered certificate."
		}
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 700027, "The registered certificate has no RSA key."
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch h.Alg {
	case "PS256":
		err1 = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err1 = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		return 5002738, fmt.Sprintf("Invalid JWT token. '%s' is not a supported signature algorithm.", h.Alg)
	}
	if err1 != nil {
		return 7000274, "Key was found, but use of the key to verify the signature failed."
	}
	var c assertionClaims
	dec := json.NewDecoder(bytes.NewReader(cb))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	audOK := false
	for _, a := range c.Aud {
		if strings.EqualFold(a, endpoint) {
			audOK = true
		}
	}
	if !audOK {
		return 700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.", strings.Join(c.Aud, ","))
	}
	if !strings.EqualFold(c.Iss, s.ClientID) || !strings.EqualFold(c.Sub, s.ClientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	if c.Jti == "" {
		return 700023, "Client assertion has no jti claim."
	}
	now := time.Now()
	exp, ok := unixClaim(c.Exp)
	if !ok {
		return 700024, "Client assertion is missing its exp claim."
	}
	if !exp.After(now) {
		return 700024, "Client assertion is not within its valid time range."
	}
	if nbf, ok := unixClaim(c.Nbf); ok && nbf.After(now.Add(clockSkew)) {
		return 700024, "Client assertion is not within its valid time range."
	}
	return 0, ""
}

func hexUpper(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }

// Access tokens: HMAC-signed JWTs only this server issues and accepts.

type accessClaims struct {
	Aud   string `json:"aud"`
	Iss   string `json:"iss"`
	Tid   string `json:"tid"`
	AppID string `json:"appid"`
	Sub   string `json:"sub"`
	Idtyp string `json:"idtyp"`
	Iat   int64  `json:"iat"`
	Nbf   int64  `json:"nbf"`
	Exp   int64  `json:"exp"`
}

var accessHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

func (s *Server) sign(data string) string {
	m := hmac.New(sha256.New, s.hmacKey)
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) issueToken(resource string) (string, error) {
	now := time.Now()
	c := accessClaims{
		Aud: resource, Iss: "https://sts.windows.net/" + s.TenantID + "/", Tid: s.TenantID,
		AppID: s.ClientID, Sub: s.ClientID, Idtyp: "app",
		Iat: now.Unix(), Nbf: now.Add(-time.Minute).Unix(), Exp: now.Add(s.tokenTTL).Unix(),
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	body := accessHeader + "." + base64.RawURLEncoding.EncodeToString(b)
	return body + "." + s.sign(body), nil
}

// verifyToken checks an access token for resource and returns the AKV
// message of its fault, or "".
func (s *Server) verifyToken(token, resource string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != accessHeader {
		return "AKV10000: Request is missing a Bearer or PoP token."
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.sign(parts[0]+"."+parts[1]))) {
		return "AKV10031: Token signature is invalid."
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "AKV10000: Request is missing a Bearer or PoP token."
	}
	var c accessClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return "AKV10000: Request is missing a Bearer or PoP token."
	}
	now := time.Now().Unix()
	switch {
	case c.Exp <= now:
		return "AKV10032: Token has expired."
	case c.Nbf > now+int64(clockSkew/time.Second):
		return "AKV10032: Token is not yet valid."
	case !strings.EqualFold(strings.TrimSuffix(c.Aud, "/"), strings.TrimSuffix(resource, "/")):
		return fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", resource, c.Aud)
	case !strings.EqualFold(c.Tid, s.TenantID):
		return "AKV10032: Invalid issuer. Expected one of the issuers of the vault's tenant."
	}
	return ""
}

// resourceFor returns the resource a challenge names for a request to host
// (Host header, with port if any).
func (s *Server) resourceFor(host string) string {
	if s.opts.ChallengeResource != "" {
		return s.opts.ChallengeResource
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, ""
	}
	if ip := net.ParseIP(h); ip != nil && ip.To4() != nil {
		// The SDK requires the vault host to end with "."+resource host
		// (ports included); drop the first label of the address.
		_, rest, _ := strings.Cut(h, ".")
		if port != "" {
			rest += ":" + port
		}
		return "https://" + rest
	}
	return "https://" + s.opts.VaultSuffix
}

// knownResource says whether the token endpoint issues tokens for resource.
func (s *Server) knownResource(resource string) bool {
	resource = strings.TrimSuffix(resource, "/")
	for _, r := range []string{s.resourceFor(s.VaultHost()), s.resourceFor(s.Addr())} {
		if strings.EqualFold(resource, r) {
			return true
		}
	}
	return false
}
