// Package cyberarktest is an in-process imitation of CyberArk's Central
// Credential Provider (CCP) web service, for tests of the cyberark provider
// and of the daemon end to end. It is an ordinary (non-test) package so that
// any test can import it.
//
// The server listens on 127.0.0.1 with TLS and REQUIRES a client
// certificate signed by its own test CA (tls.RequireAndVerifyClientCert),
// like a CCP whose AppID uses certificate authentication. It answers GET
// /<web_service>/api/Accounts with the JSON shapes of CCP's GetPassword
// REST service: the account's properties on success (Content, UserName,
// LogonDomain, Address, Safe, Folder, Name, PasswordChangeInProcess, ...)
// and {"ErrorCode": "...", "ErrorMsg": "..."} with CCP's status codes on
// failure (APPAP004E 404, APPAP306E 403, APPAP227E 400, APPAP007E 400,
// APPAP282E 500, AIMWS031E 400).
//
// Object, Safe and folder names are compared without regard to case, as in
// CyberArk. Every file the server writes (the CA certificate and client
// certificate/key pairs) lives in a temporary directory that Close removes.
package cyberarktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Defaults of Options.
const (
	// DefaultAppID is the AppID the server accepts unless Options says
	// otherwise.
	DefaultAppID = "secretbroker"
	// DefaultWebService is the web service name the server answers at.
	DefaultWebService = "AIMWebService"
)

// Options configures a Server.
type Options struct {
	// AppID is the only AppID the server accepts; any other gets CCP's
	// APPAP306E 403 answer. Default DefaultAppID.
	AppID string
	// WebService is the first path element, before /api/Accounts. Default
	// DefaultWebService.
	WebService string
}

// Fault is a failure the server shows on every request while it is set.
type Fault int

// The faults a Server can show.
const (
	// NoFault: the server answers normally.
	NoFault Fault = iota
	// Denied: every request gets 403 APPAP306E (authentication check
	// failed), as when the AppID does not accept the caller.
	Denied
	// VaultDown: every request gets 400 APPAP007E (connection to the Vault
	// has failed), CCP's answer when it cannot reach the Vault.
	VaultDown
	// Hung: every request is accepted and never answered, until the client
	// gives up or the server closes.
	Hung
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case NoFault:
		return "NoFault"
	case Denied:
		return "Denied"
	case VaultDown:
		return "VaultDown"
	case Hung:
		return "Hung"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Server is a running fake CCP. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	m    *material
	ts   *httptest.Server
	quit chan struct{}

	mu        sync.Mutex
	accounts  map[string]*account // key: lower(safe) \x00 lower(folder) \x00 lower(object)
	changing  map[string]int      // key: lower(safe) \x00 lower(object)
	failures  map[string]*failure // key: lower(safe) \x00 lower(object)
	fault     Fault
	requests  int
	reasons   []string
	queries   []url.Values
	closeOnce sync.Once
}

type account struct {
	safe, folder, object string
	props                map[string]string
}

type failure struct {
	status            int
	header            http.Header
	contentType, body string
	times             int // < 0: forever
}

// New starts a server on 127.0.0.1 with a fresh test CA, server
// certificate and client certificates. Close it when done.
func New(opts Options) (*Server, error) {
	if opts.AppID == "" {
		opts.AppID = DefaultAppID
	}
	if opts.WebService == "" {
		opts.WebService = DefaultWebService
	}
	if strings.ContainsAny(opts.WebService, "/?#") {
		return nil, errors.New("cyberarktest: WebService must be one path element")
	}
	m, err := newMaterial()
	if err != nil {
		return nil, fmt.Errorf("cyberarktest: certificates: %w", err)
	}
	s := &Server{
		opts:     opts,
		m:        m,
		quit:     make(chan struct{}),
		accounts: make(map[string]*account),
		changing: make(map[string]int),
		failures: make(map[string]*failure),
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	ts.TLS = tlsServerConfig(m)
	// Refused handshakes (the point of several tests) would otherwise be
	// logged to stderr.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	s.ts = ts
	return s, nil
}

// URL returns the base URL to configure the provider with,
// "https://127.0.0.1:<port>" (without the web service path).
func (s *Server) URL() string { return s.ts.URL }

// AppID returns the AppID the server accepts.
func (s *Server) AppID() string { return s.opts.AppID }

// WebService returns the web service name the server answers at.
func (s *Server) WebService() string { return s.opts.WebService }

// Dir returns the temporary directory holding the server's PEM files.
func (s *Server) Dir() string { return s.m.dir }

// CAFile returns the PEM file of the test CA, which signs the server's
// certificate and the trusted client certificate: the provider's tls.ca_file.
func (s *Server) CAFile() string { return s.m.caFile }

// ClientCertFile returns the PEM file of a client certificate the server
// accepts: the provider's tls.client_cert_file.
func (s *Server) ClientCertFile() string { return s.m.clientCert }

// ClientKeyFile returns the PEM private key of ClientCertFile: the
// provider's tls.client_key_file.
func (s *Server) ClientKeyFile() string { return s.m.clientKey }

// UntrustedClientCertFile returns the PEM file of a client certificate
// signed by another CA, which the server refuses during the TLS handshake.
func (s *Server) UntrustedClientCertFile() string { return s.m.untrustedCert }

// UntrustedClientKeyFile returns the PEM private key of
// UntrustedClientCertFile.
func (s *Server) UntrustedClientKeyFile() string { return s.m.untrustedKey }

// Close stops the server (releasing hung requests first) and removes its
// files. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.ts.Close()
		os.RemoveAll(s.m.dir)
	})
}

// PropertiesFromAttributes maps provider attributes to the CCP account
// properties that Get turns back into them: password to Content, username
// to UserName, domain to LogonDomain, address to Address; any other
// attribute is a property of the same name.
func PropertiesFromAttributes(attrs map[string]string) map[string]string {
	props := make(map[string]string, len(attrs))
	for k, v := range attrs {
		switch k {
		case "password":
			props["Content"] = v
		case "username":
			props["UserName"] = v
		case "domain":
			props["LogonDomain"] = v
		case "address":
			props["Address"] = v
		default:
			props[k] = v
		}
	}
	return props
}

// Seed stores (or replaces) the object in safe's Root folder with the given
// CCP properties (Content, UserName, LogonDomain, Address, PolicyID, ...).
func (s *Server) Seed(safe, object string, props map[string]string) {
	s.SeedFolder(safe, "Root", object, props)
}

// SeedFolder is Seed for a folder other than Root.
func (s *Server) SeedFolder(safe, folder, object string, props map[string]string) {
	cp := make(map[string]string, len(props))
	for k, v := range props {
		cp[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[accountKey(safe, folder, object)] = &account{safe: safe, folder: folder, object: object, props: cp}
}

// Delete removes the object from safe's Root folder.
func (s *Server) Delete(safe, object string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accounts, accountKey(safe, "Root", object))
}

// SetPasswordChangeInProcess makes the next n requests that find the object
// see a password change in process: they get the account with
// PasswordChangeInProcess "True", or, when the request says
// FailRequestOnPasswordChange=true, CCP's 500 APPAP282E error.
func (s *Server) SetPasswordChangeInProcess(safe, object string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changing[objectKey(safe, object)] = n
}

// FailNext makes the next n requests for the object (in any folder) get
// the given HTTP status and CCP error body {"ErrorCode": code, "ErrorMsg":
// msg}; n < 0 means every request. An empty code sends a non-JSON body
// instead, like an error page of IIS or a proxy.
func (s *Server) FailNext(safe, object string, status int, code, msg string, n int) {
	if code == "" {
		s.RespondNext(safe, object, status, "text/html", "<html><body><h2>Server Error</h2></body></html>", n)
		return
	}
	b, _ := json.Marshal(map[string]string{"ErrorCode": code, "ErrorMsg": msg})
	s.RespondNext(safe, object, status, "application/json; charset=utf-8", string(b), n)
}

// RespondNext makes the next n requests for the object (in any folder) get
// exactly this status, content type and body, for tests of answers CCP
// should never give (malformed JSON, say); n < 0 means every request.
func (s *Server) RespondNext(safe, object string, status int, contentType, body string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[objectKey(safe, object)] = &failure{status: status, contentType: contentType, body: body, times: n}
}

// Throttle makes the next n requests for the object (in any folder) get
// HTTP 429 Too Many Requests with an empty body, as a gateway's rate limit
// in front of CCP answers, with the Retry-After header retryAfter (none
// when ""); n < 0 means every request.
func (s *Server) Throttle(safe, object, retryAfter string, n int) {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[objectKey(safe, object)] = &failure{status: http.StatusTooManyRequests, header: h, contentType: "text/plain", times: n}
}

// SetFault makes every following request show f (NoFault to stop).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Requests returns how many HTTP requests reached the server's handler
// (refused TLS handshakes never do).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Reasons returns the Reason parameter of every request to the accounts
// endpoint, in order ("" when a request had none).
func (s *Server) Reasons() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reasons...)
}

// Queries returns the decoded query parameters of every request to the
// accounts endpoint, in order.
func (s *Server) Queries() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]url.Values, len(s.queries))
	for i, q := range s.queries {
		out[i] = cloneValues(q)
	}
	return out
}

// LastQuery returns the query parameters of the last request to the
// accounts endpoint, or nil.
func (s *Server) LastQuery() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queries) == 0 {
		return nil
	}
	return cloneValues(s.queries[len(s.queries)-1])
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func accountKey(safe, folder, object string) string {
	return strings.ToLower(safe) + "\x00" + strings.ToLower(folder) + "\x00" + strings.ToLower(object)
}

func objectKey(safe, object string) string {
	return strings.ToLower(safe) + "\x00" + strings.ToLower(object)
}

// ccpError writes CCP's error body.
func ccpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"ErrorCode": code, "ErrorMsg": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	fault := s.fault
	s.mu.Unlock()

	if r.URL.Path != "/"+s.opts.WebService+"/api/Accounts" {
		// IIS's answer for an application that is not there: HTML, no
		// CCP error code.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><body><h2>404 - File or directory not found.</h2></body></html>")
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	s.reasons = append(s.reasons, q.Get("Reason"))
	s.queries = append(s.queries, cloneValues(q))
	s.mu.Unlock()

	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	switch fault {
	case Hung:
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	case Denied:
		ccpError(w, http.StatusForbidden, "APPAP306E",
			fmt.Sprintf("Authentication error for App ID [%s]. Reason: APPAP133E Failed to verify application authentication data", q.Get("AppID")))
		return
	case VaultDown:
		ccpError(w, http.StatusBadRequest, "APPAP007E", "Connection to the Vault has failed")
		return
	}

	appID := q.Get("AppID")
	if appID == "" {
		ccpError(w, http.StatusBadRequest, "AIMWS031E", "Invalid request. The AppID parameter is required")
		return
	}
	if appID != s.opts.AppID {
		ccpError(w, http.StatusForbidden, "APPAP306E",
			fmt.Sprintf("Authentication error for App ID [%s]. Reason: APPAP133E Failed to verify application authentication data", appID))
		return
	}

	safe, folder, object := q.Get("Safe"), q.Get("Folder"), q.Get("Object")
	format := "exact"
	if query := q.Get("Query"); query != "" {
		safe, folder, object = "", "", ""
		for _, part := range strings.Split(query, ";") {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				ccpError(w, http.StatusBadRequest, "AIMWS030E", "Invalid query format")
				return
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "safe":
				safe = v
			case "folder":
				folder = v
			case "object":
				object = v
			}
		}
		switch f := strings.ToLower(q.Get("QueryFormat")); f {
		case "", "exact":
		case "regexp":
			format = f
		default:
			ccpError(w, http.StatusBadRequest, "AIMWS030E", "Invalid query format")
			return
		}
	}
	if safe == "" && object == "" {
		ccpError(w, http.StatusBadRequest, "AIMWS030E", "Invalid query format: at least one search criterion besides AppID is required")
		return
	}
	if folder == "" {
		folder = "Root"
	}
	query := fmt.Sprintf("Safe=%s;Folder=%s;Object=%s", safe, folder, object)

	s.mu.Lock()
	if f := s.failures[objectKey(safe, object)]; f != nil && f.times != 0 {
		if f.times > 0 {
			f.times--
		}
		status, ct, body := f.status, f.contentType, f.body
		for k, v := range f.header {
			w.Header()[k] = v
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	matches, err := s.match(safe, folder, object, format)
	if err != nil {
		s.mu.Unlock()
		ccpError(w, http.StatusBadRequest, "AIMWS030E", "Invalid query format: "+err.Error())
		return
	}
	switch {
	case len(matches) == 0:
		s.mu.Unlock()
		ccpError(w, http.StatusNotFound, "APPAP004E",
			"Password object matching query ["+query+"] was not found (Diagnostic Info: 5). "+
				"Please check that there is a password object that answers your query in the Vault and that "+
				"both the Provider and the application user have the appropriate permissions needed in order to use the password.")
		return
	case len(matches) > 1:
		s.mu.Unlock()
		ccpError(w, http.StatusBadRequest, "APPAP227E",
			fmt.Sprintf("Too many password objects matching query [%s] were found (Diagnostic Info: 41)", query))
		return
	}
	a := matches[0]
	inChange := false
	if n := s.changing[objectKey(a.safe, a.object)]; n > 0 {
		s.changing[objectKey(a.safe, a.object)] = n - 1
		inChange = true
	}
	body := map[string]string{}
	for k, v := range a.props {
		body[k] = v
	}
	s.mu.Unlock()

	if inChange && strings.EqualFold(q.Get("FailRequestOnPasswordChange"), "true") {
		ccpError(w, http.StatusInternalServerError, "APPAP282E",
			"Password ["+a.object+"] is currently being changed by the CPM.")
		return
	}
	body["Safe"] = a.safe
	body["Folder"] = a.folder
	body["Name"] = a.object
	body["PasswordChangeInProcess"] = "False"
	if inChange {
		body["PasswordChangeInProcess"] = "True"
	}
	if _, ok := body["CreationMethod"]; !ok {
		body["CreationMethod"] = "PVWA"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

// match returns the accounts that the query matches. Called with s.mu held.
func (s *Server) match(safe, folder, object, format string) ([]*account, error) {
	var re *regexp.Regexp
	if format == "regexp" && object != "" {
		var err error
		if re, err = regexp.Compile("(?i)^(?:" + object + ")$"); err != nil {
			return nil, err
		}
	}
	var out []*account
	for _, a := range s.accounts {
		if safe != "" && !strings.EqualFold(a.safe, safe) || !strings.EqualFold(a.folder, folder) {
			continue
		}
		switch {
		case object == "":
		case re != nil:
			if !re.MatchString(a.object) {
				continue
			}
		default:
			if !strings.EqualFold(a.object, object) {
				continue
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].object < out[j].object })
	return out, nil
}
