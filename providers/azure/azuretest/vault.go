package azuretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// maxValueBytes is Key Vault's secret size limit (25 KB), enforced on PUT;
// Seed ignores it.
const maxValueBytes = 25 * 1024

var nameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

type version struct {
	id          string
	value       string
	contentType string
	tags        map[string]string
	enabled     bool
	exp, nbf    time.Time // zero: none
	created     time.Time
	updated     time.Time
}

type entry struct {
	name     string // as first written
	versions []*version
	deleted  time.Time // zero: not deleted
}

func (e *entry) latest() *version { return e.versions[len(e.versions)-1] }

// Seed stores a new version of the secret name by the vault's own means
// (no request, no size limit) and returns its version ID. exp is the
// expiry; the zero time means none. A soft-deleted secret of that name is
// purged first.
func (s *Server) Seed(name, value, contentType string, tags map[string]string, enabled bool, exp time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || !e.deleted.IsZero() {
		e = &entry{name: name}
		s.secrets[strings.ToLower(name)] = e
	}
	now := time.Now().UTC()
	v := &version{
		id: randomHex(16), value: value, contentType: contentType, tags: copyTags(tags),
		enabled: enabled, exp: exp, created: now, updated: now,
	}
	e.versions = append(e.versions, v)
	return v.id
}

// Disable disables the current version of the secret name, as the portal's
// "Enabled: No" does. It reports whether the secret exists.
func (s *Server) Disable(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || !e.deleted.IsZero() {
		return false
	}
	v := e.latest()
	v.enabled = false
	v.updated = time.Now().UTC()
	return true
}

// Purge removes the secret name for good, deleted or not.
func (s *Server) Purge(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, strings.ToLower(name))
}

// Stored returns the current value and content type of the secret name,
// and whether it exists (not deleted).
func (s *Server) Stored(name string) (value, contentType string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || !e.deleted.IsZero() {
		return "", "", false
	}
	v := e.latest()
	return v.value, v.contentType, true
}

// Deleted reports whether the secret name is soft-deleted.
func (s *Server) Deleted(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	return e != nil && !e.deleted.IsZero()
}

func copyTags(tags map[string]string) map[string]string {
	if tags == nil {
		return nil
	}
	c := make(map[string]string, len(tags))
	for k, v := range tags {
		c[k] = v
	}
	return c
}

// writeVaultError writes Key Vault's error shape.
func writeVaultError(w http.ResponseWriter, status int, code, message, inner string) {
	e := map[string]any{"code": code, "message": message}
	if inner != "" {
		e["innererror"] = map[string]any{"code": inner}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request, message string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://%s/%s", resource="%s"`,
		PublicAuthorityHost, s.TenantID, s.resourceFor(r.Host)))
	writeVaultError(w, http.StatusUnauthorized, "Unauthorized", message, "")
}

// authorize checks the bearer token of a vault request; it answers the
// challenge itself and returns false when the token is missing or bad.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		s.challenge(w, r, "AKV10000: Request is missing a Bearer or PoP token.")
		return false
	}
	if msg := s.verifyToken(token, s.resourceFor(r.Host)); msg != "" {
		s.challenge(w, r, msg)
		return false
	}
	return true
}

func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("api-version") == "" {
		writeVaultError(w, http.StatusBadRequest, "BadParameter", "The 'api-version' query parameter is missing.", "")
		return
	}
	if !s.authorize(w, r) {
		return
	}
	switch s.currentFault() {
	case Denied:
		writeVaultError(w, http.StatusForbidden, "Forbidden",
			fmt.Sprintf("Caller is not authorized to perform action on resource. If role assignments, deny assignments or role definitions were changed recently, please observe propagation time. Caller: appid=%s;iss=https://sts.windows.net/%s/ Vault: %s",
				s.ClientID, s.TenantID, s.opts.VaultName), "ForbiddenByRbac")
		return
	case Throttled:
		w.Header().Set("Retry-After", "1")
		writeVaultError(w, http.StatusTooManyRequests, "Throttled", "Rate limit is exceeded. Try again in 1 seconds.", "")
		return
	case Unavailable:
		writeVaultError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable.", "")
		return
	}

	var segs []string
	for _, p := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(p)
		if err != nil {
			writeVaultError(w, http.StatusBadRequest, "BadParameter", "The request URI is not valid.", "")
			return
		}
		segs = append(segs, u)
	}
	if len(segs) < 2 || len(segs) > 3 {
		writeVaultError(w, http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
		return
	}
	name := segs[1]
	if !nameRE.MatchString(name) {
		writeVaultError(w, http.StatusBadRequest, "BadParameter", "The request URI contains an invalid name: "+name, "")
		return
	}
	ver := ""
	if len(segs) == 3 {
		ver = segs[2]
	}
	base := "https://" + r.Host
	switch {
	case segs[0] == "secrets" && r.Method == http.MethodGet:
		s.getSecret(w, base, name, ver)
	case segs[0] == "secrets" && r.Method == http.MethodPut && ver == "":
		s.setSecret(w, r, base, name)
	case segs[0] == "secrets" && r.Method == http.MethodDelete && ver == "":
		s.deleteSecret(w, base, name)
	case segs[0] == "deletedsecrets" && r.Method == http.MethodGet && ver == "":
		s.getDeleted(w, base, name)
	default:
		writeVaultError(w, http.StatusMethodNotAllowed, "BadParameter", "The requested operation is not supported.", "")
	}
}

func notFound(w http.ResponseWriter, what string) {
	writeVaultError(w, http.StatusNotFound, "SecretNotFound",
		fmt.Sprintf("A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", what), "")
}

func unix(t time.Time) int64 { return t.Unix() }

// bundle is the JSON of a secret version.
func (e *entry) bundle(base string, v *version, withValue bool) map[string]any {
	attrs := map[string]any{
		"enabled":         v.enabled,
		"created":         unix(v.created),
		"updated":         unix(v.updated),
		"recoveryLevel":   "Recoverable+Purgeable",
		"recoverableDays": 90,
	}
	if !v.exp.IsZero() {
		attrs["exp"] = unix(v.exp)
	}
	if !v.nbf.IsZero() {
		attrs["nbf"] = unix(v.nbf)
	}
	b := map[string]any{
		"id":         base + "/secrets/" + e.name + "/" + v.id,
		"attributes": attrs,
	}
	if withValue {
		b["value"] = v.value
	}
	if v.contentType != "" {
		b["contentType"] = v.contentType
	}
	if len(v.tags) > 0 {
		b["tags"] = v.tags
	}
	return b
}

func (s *Server) getSecret(w http.ResponseWriter, base, name, ver string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || !e.deleted.IsZero() {
		notFound(w, name)
		return
	}
	v := e.latest()
	if ver != "" {
		v = nil
		for _, c := range e.versions {
			if strings.EqualFold(c.id, ver) {
				v = c
			}
		}
		if v == nil {
			notFound(w, name+"/"+ver)
			return
		}
	}
	if !v.enabled {
		writeVaultError(w, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
		return
	}
	writeJSON(w, http.StatusOK, e.bundle(base, v, true))
}

type setParameters struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *struct {
		Enabled *bool  `json:"enabled"`
		Exp     *int64 `json:"exp"`
		Nbf     *int64 `json:"nbf"`
	} `json:"attributes"`
}

func (s *Server) setSecret(w http.ResponseWriter, r *http.Request, base, name string) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var p setParameters
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		writeVaultError(w, http.StatusBadRequest, "BadParameter", "The request body is not valid JSON.", "")
		return
	}
	if p.Value == nil {
		writeVaultError(w, http.StatusBadRequest, "BadParameter", "Property 'value' is required.", "")
		return
	}
	if len(*p.Value) > maxValueBytes {
		writeVaultError(w, http.StatusBadRequest, "BadParameter", "Secret value exceeds the maximum size of 25 KB.", "")
		return
	}
	now := time.Now().UTC()
	v := &version{id: randomHex(16), value: *p.Value, contentType: p.ContentType, tags: copyTags(p.Tags),
		enabled: true, created: now, updated: now}
	if a := p.Attributes; a != nil {
		if a.Enabled != nil {
			v.enabled = *a.Enabled
		}
		if a.Exp != nil {
			v.exp = time.Unix(*a.Exp, 0).UTC()
		}
		if a.Nbf != nil {
			v.nbf = time.Unix(*a.Nbf, 0).UTC()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e != nil && !e.deleted.IsZero() {
		writeVaultError(w, http.StatusConflict, "Conflict",
			fmt.Sprintf("Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", e.name),
			"ObjectIsDeletedButRecoverable")
		return
	}
	if e == nil {
		e = &entry{name: name}
		s.secrets[strings.ToLower(name)] = e
	}
	e.versions = append(e.versions, v)
	writeJSON(w, http.StatusOK, e.bundle(base, v, true))
}

func (s *Server) deletedBundle(base string, e *entry) map[string]any {
	b := e.bundle(base, e.latest(), false)
	b["recoveryId"] = base + "/deletedsecrets/" + e.name
	b["deletedDate"] = unix(e.deleted)
	b["scheduledPurgeDate"] = unix(e.deleted.Add(time.Duration(s.deletedDays) * 24 * time.Hour))
	return b
}

func (s *Server) deleteSecret(w http.ResponseWriter, base, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || !e.deleted.IsZero() {
		notFound(w, name)
		return
	}
	e.deleted = time.Now().UTC()
	writeJSON(w, http.StatusOK, s.deletedBundle(base, e))
}

func (s *Server) getDeleted(w http.ResponseWriter, base, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || e.deleted.IsZero() {
		writeVaultError(w, http.StatusNotFound, "SecretNotFound",
			fmt.Sprintf("Deleted Secret not found: %s", name), "")
		return
	}
	writeJSON(w, http.StatusOK, s.deletedBundle(base, e))
}

// Names returns the names of the secrets that are not deleted, sorted.
func (s *Server) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.secrets {
		if e.deleted.IsZero() {
			out = append(out, e.name)
		}
	}
	sort.Strings(out)
	return out
}

// SetNotBefore sets the not-before time of the current version of the
// secret name. It reports whether the secret exists.
func (s *Server) SetNotBefore(name string, nbf time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.secrets[strings.ToLower(name)]
	if e == nil || !e.deleted.IsZero() {
		return false
	}
	e.latest().nbf = nbf
	return true
}
