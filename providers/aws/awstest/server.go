// Package awstest is an in-process AWS Secrets Manager (and STS AssumeRole)
// for tests: an HTTP server on 127.0.0.1 that speaks the Secrets Manager
// JSON 1.1 protocol and the STS query protocol, and verifies the Signature
// Version 4 of every request against credentials it issues itself. It is an
// ordinary package, not a _test file, so that the provider's tests and the
// daemon's end-to-end tests can both use it.
//
// # Protocol
//
// Secrets Manager requests are POST / with Content-Type
// application/x-amz-json-1.1 and X-Amz-Target secretsmanager.<Operation>.
// The server implements GetSecretValue, CreateSecret, PutSecretValue,
// DeleteSecret, RestoreSecret and DescribeSecret with the documented request
// members (SecretId, VersionId, VersionStage, Name, SecretString,
// SecretBinary as base64, ClientRequestToken, VersionStages,
// RecoveryWindowInDays, ForceDeleteWithoutRecovery) and response members
// (ARN, Name, VersionId, SecretString, SecretBinary, VersionStages,
// CreatedDate and DeletionDate as epoch seconds). Errors are HTTP 400 (500
// for InternalServiceError) with a JSON body {"__type": "<Code>", "Message":
// "..."}: the SDK's awsJson 1.1 deserializer takes the code from the
// X-Amzn-ErrorType header when present, else from __type (else "code"), and
// the message from "message" or "Message".
//
// STS requests are POST / with a form body Action=AssumeRole; the answer is
// the documented XML AssumeRoleResponse, and errors are an XML ErrorResponse.
//
// # Authentication
//
// Every request must carry an AWS4-HMAC-SHA256 Authorization header scoped
// to the server's region and to the service ("secretsmanager" or "sts"),
// with an X-Amz-Date within 15 minutes of the server's clock, signed with
// the server's credentials (see Credentials) or with temporary credentials
// it issued through AssumeRole (which must also send their session token).
// Failures are answered like AWS: UnrecognizedClientException for an unknown
// key or bad token, InvalidSignatureException for a wrong signature or a
// skewed clock, ExpiredTokenException, MissingAuthenticationTokenException,
// IncompleteSignatureException (STS: InvalidClientTokenId,
// SignatureDoesNotMatch, ExpiredToken, MissingAuthenticationToken,
// IncompleteSignature).
package awstest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultRegion is the region a server signs for when Options.Region is "".
const DefaultRegion = "us-east-1"

// AccountID is the account number in the ARNs the server makes up.
const AccountID = "123456789012"

// maxBody bounds request bodies; Secrets Manager values are at most 64 KiB.
const maxBody = 1 << 20

// maxSecretSize is Secrets Manager's limit on SecretString and SecretBinary
// in CreateSecret and PutSecretValue. Seed does not apply it.
const maxSecretSize = 65536

// Options configures a Server.
type Options struct {
	// Region is the region requests must be signed for. Default
	// DefaultRegion.
	Region string
	// Now is the server's clock, for checking X-Amz-Date and token expiry
	// and for dates it writes. Default time.Now.
	Now func() time.Time
	// AccessKeyID and SecretAccessKey are the long-term credentials the
	// server accepts, for a second server that must accept the same
	// environment as a first one. Default: made up at random per server.
	AccessKeyID, SecretAccessKey string
}

// Fault is a failure the server shows on every Secrets Manager request
// (after authenticating it), until SetFault(NoFault).
type Fault int

// The faults of SetFault.
const (
	// NoFault: answer normally.
	NoFault Fault = iota
	// Denied: HTTP 400 AccessDeniedException.
	Denied
	// Throttling: HTTP 400 ThrottlingException.
	Throttling
	// DecryptionFailure: HTTP 400 DecryptionFailure, as when the secret's KMS
	// key policy does not let the caller decrypt.
	DecryptionFailure
	// InternalError: HTTP 500 InternalServiceError.
	InternalError
	// Hung: accept the request and never answer, until the client goes away
	// or the server closes.
	Hung
)

// Value is one version of a secret, as stored and as returned by Lookup.
type Value struct {
	// String is the SecretString; it is used when Binary is nil.
	String string
	// Binary is the SecretBinary; nil for a SecretString secret.
	Binary []byte
	// VersionID identifies the version. Seeding makes up a UUID when empty.
	VersionID string
	// Stages are the version's staging labels. Seeding uses AWSCURRENT when
	// empty.
	Stages []string
	// Created is the version's CreatedDate. Seeding uses the server's clock
	// when zero. The wire carries milliseconds.
	Created time.Time
}

// Call is one authenticated request the server answered or failed.
type Call struct {
	// Operation is the operation name: "GetSecretValue", "AssumeRole", ...
	Operation string
	// SecretID is the SecretId or Name of a Secrets Manager request.
	SecretID string
	// AccessKeyID is the key id that signed the request.
	AccessKeyID string
	// Role is the role ARN whose assumed credentials signed the request, or
	// "" for the server's long-term credentials.
	Role string
}

// Server is a fake Secrets Manager and STS. Its methods are safe for
// concurrent use.
type Server struct {
	ts       *httptest.Server
	region   string
	now      func() time.Time
	verifier *verifier
	base     credential
	closing  chan struct{}
	close    sync.Once
	requests atomic.Int64

	mu      sync.Mutex
	secrets map[string]*secret    // by name
	creds   map[string]credential // by access key id
	roles   map[string]string     // role ARN -> required external id ("" for none)
	fault   Fault                 // current fault
	custom  *errorFault           // set by FailWith; wins over fault
	calls   []Call                // authenticated requests
}

type errorFault struct {
	status        int
	code, message string
	header        http.Header
}

type secret struct {
	name     string
	arn      string
	versions map[string]*version // by version id
	deleted  time.Time           // when DeleteSecret scheduled it; zero if live
	created  time.Time
}

type version struct {
	id      string
	str     string
	bin     []byte
	stages  map[string]bool
	created time.Time
}

// NewServer starts a server on 127.0.0.1 and closes it when tb's test ends.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{
		region:  opts.Region,
		now:     opts.Now,
		closing: make(chan struct{}),
		secrets: map[string]*secret{},
		creds:   map[string]credential{},
		roles:   map[string]string{},
	}
	if s.region == "" {
		s.region = DefaultRegion
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.base = credential{keyID: opts.AccessKeyID, secret: opts.SecretAccessKey}
	if s.base.keyID == "" {
		s.base.keyID = "AKIA" + randomString(16, upperAlnum)
	}
	if s.base.secret == "" {
		s.base.secret = randomString(40, secretChars)
	}
	s.creds[s.base.keyID] = s.base
	s.verifier = &verifier{region: s.region, now: s.now, lookup: s.lookupCredential}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(s.Close)
	return s
}

// URL returns the server's base URL, http://127.0.0.1:port, for the
// provider's endpoint (and sts_endpoint).
func (s *Server) URL() string { return s.ts.URL }

// Region returns the region requests must be signed for.
func (s *Server) Region() string { return s.region }

// Credentials returns the long-term access key id and secret access key the
// server accepts.
func (s *Server) Credentials() (accessKeyID, secretAccessKey string) {
	return s.base.keyID, s.base.secret
}

// Env returns environment variables ("KEY=value") that make the SDK's
// default credential chain find the server's credentials and region and
// nothing else: no shared config or credentials files (both /dev/null), no
// profile, no session token, no web identity, no container or instance
// metadata, no endpoint overrides. Append it to a child process's
// environment; in-process tests use SetEnv.
func (s *Server) Env() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + s.base.keyID,
		"AWS_SECRET_ACCESS_KEY=" + s.base.secret,
		"AWS_REGION=" + s.region,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, k := range clearedEnv() {
		env = append(env, k+"=")
	}
	return env
}

// clearedEnv are the variables that could make the SDK look elsewhere than
// the server's credentials; Env sets them empty and SetEnv unsets them.
func clearedEnv() []string {
	return []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_STS",
		"AWS_DEFAULT_REGION", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_CA_BUNDLE",
	}
}

// SetEnv applies Env to the current process for the rest of t (with
// t.Setenv, so t and its parents must not be parallel).
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k) // t.Setenv restores the old value at cleanup.
		}
	}
}

// Close stops the server, releasing hung requests first. It is called by
// the test's cleanup and may be called earlier, more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		close(s.closing)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Requests returns how many HTTP requests the server received, rejected ones
// included.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Calls returns the authenticated requests so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// SetFault makes every later Secrets Manager request fail with f (NoFault
// restores normal answers and clears FailWith).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.custom = nil
}

// FailWith makes every later Secrets Manager request fail with an arbitrary
// error: HTTP status, error code (the __type) and message.
func (s *Server) FailWith(status int, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.custom = &errorFault{status: status, code: code, message: message}
}

// FailWithHeader is FailWith with extra headers on the answer, such as a
// Retry-After.
func (s *Server) FailWithHeader(status int, code, message string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.custom = &errorFault{status: status, code: code, message: message, header: header.Clone()}
}

// AddRole lets AssumeRole issue credentials for roleARN. If externalID is
// not "", AssumeRole must send it.
func (s *Server) AddRole(roleARN, externalID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[roleARN] = externalID
}

// Seed stores secretString as a new AWSCURRENT version of the secret name
// (creating the secret, or restoring it if it was scheduled for deletion)
// and returns the version id. name is the whole secret name, name path
// included.
func (s *Server) Seed(name, secretString string) string {
	return s.SeedValue(name, Value{String: secretString})
}

// SeedBinary is Seed for a SecretBinary value.
func (s *Server) SeedBinary(name string, b []byte) string {
	if b == nil {
		b = []byte{}
	}
	return s.SeedValue(name, Value{Binary: b})
}

// SeedValue stores v as a new version of the secret name and returns its
// version id. The stages v takes move off the secret's other versions; when
// AWSCURRENT moves, the version that had it becomes AWSPREVIOUS, as on AWS.
func (s *Server) SeedValue(name string, v Value) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = s.newSecretLocked(name)
	}
	sec.deleted = time.Time{}
	if v.VersionID == "" {
		v.VersionID = newUUID()
	}
	if len(v.Stages) == 0 {
		v.Stages = []string{"AWSCURRENT"}
	}
	if v.Created.IsZero() {
		v.Created = s.now()
	}
	s.addVersionLocked(sec, &version{id: v.VersionID, str: v.String, bin: cloneBytes(v.Binary), created: v.Created}, v.Stages)
	return v.VersionID
}

// ScheduleDeletion marks the secret name as scheduled for deletion, as
// DeleteSecret with a recovery window does; it reports whether the secret
// existed.
func (s *Server) ScheduleDeletion(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		return false
	}
	sec.deleted = s.now()
	return true
}

// Lookup returns the AWSCURRENT version of the secret name. ok is false if
// there is no such secret or version; scheduled says the secret is
// scheduled for deletion (its value is still returned).
func (s *Server) Lookup(name string) (v Value, scheduled, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		return Value{}, false, false
	}
	ver := sec.byStage("AWSCURRENT")
	if ver == nil {
		return Value{}, !sec.deleted.IsZero(), false
	}
	return ver.value(), !sec.deleted.IsZero(), true
}

func (v *version) value() Value {
	out := Value{String: v.str, Binary: cloneBytes(v.bin), VersionID: v.id, Created: v.created}
	out.Stages = v.stageList()
	return out
}

func (v *version) stageList() []string {
	l := make([]string, 0, len(v.stages))
	for st := range v.stages {
		l = append(l, st)
	}
	sort.Strings(l)
	return l
}

func (sec *secret) byStage(stage string) *version {
	for _, v := range sec.versions {
		if v.stages[stage] {
			return v
		}
	}
	return nil
}

func (s *Server) newSecretLocked(name string) *secret {
	sec := &secret{
		name:     name,
		arn:      fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, AccountID, name, randomString(6, alnum)),
		versions: map[string]*version{},
		created:  s.now(),
	}
	s.secrets[name] = sec
	return sec
}

// addVersionLocked adds v to sec and gives it stages.
func (s *Server) addVersionLocked(sec *secret, v *version, stages []string) {
	v.stages = map[string]bool{}
	if old := sec.versions[v.id]; old != nil {
		v.stages = old.stages
	}
	sec.versions[v.id] = v
	for _, st := range stages {
		prev := sec.byStage(st)
		if prev == v {
			continue
		}
		if prev != nil {
			delete(prev.stages, st)
		}
		v.stages[st] = true
		if st == "AWSCURRENT" && prev != nil {
			if p := sec.byStage("AWSPREVIOUS"); p != nil {
				delete(p.stages, "AWSPREVIOUS")
			}
			prev.stages["AWSPREVIOUS"] = true
		}
	}
}

func (s *Server) lookupCredential(keyID string) (credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[keyID]
	return c, ok
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > maxBody {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "SerializationException", "request body too large")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeJSONError(w, http.StatusNotFound, "UnknownOperationException", "expected POST /")
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveSecrets(w, r, body, target)
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.serveSTS(w, r, body)
		return
	}
	writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "request has neither X-Amz-Target nor a form body")
}

// apiError is a Secrets Manager error answer.
type apiError struct {
	status        int
	code, message string
}

func errf(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// secretsAuthError turns a verification failure into Secrets Manager's
// error code.
func secretsAuthError(e *authError) *apiError {
	code := map[authFailure]string{
		authMissing:      "MissingAuthenticationTokenException",
		authIncomplete:   "IncompleteSignatureException",
		authUnknownKey:   "UnrecognizedClientException",
		authBadSignature: "InvalidSignatureException",
		authSkewed:       "InvalidSignatureException",
		authBadToken:     "UnrecognizedClientException",
		authExpiredToken: "ExpiredTokenException",
	}[e.failure]
	return errf(code, "%s", e.message)
}

func (s *Server) serveSecrets(w http.ResponseWriter, r *http.Request, body []byte, target string) {
	svc, op, _ := strings.Cut(target, ".")
	if svc != "secretsmanager" {
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "unknown X-Amz-Target")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
		return
	}
	cred, aerr := s.verifier.verify(r, body, "secretsmanager")
	if aerr != nil {
		e := secretsAuthError(aerr)
		writeJSONError(w, e.status, e.code, e.message)
		return
	}
	var in request
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "request body is not the expected JSON")
		return
	}
	id := in.SecretID
	if op == "CreateSecret" {
		id = in.Name
	}
	s.record(Call{Operation: op, SecretID: id, AccessKeyID: cred.keyID, Role: cred.role})

	s.mu.Lock()
	fault, custom := s.fault, s.custom
	s.mu.Unlock()
	if custom != nil {
		for k, v := range custom.header {
			w.Header()[k] = v
		}
		writeJSONError(w, custom.status, custom.code, custom.message)
		return
	}
	switch fault {
	case Denied:
		writeJSONError(w, http.StatusBadRequest, "AccessDeniedException",
			fmt.Sprintf("User: arn:aws:iam::%s:user/test is not authorized to perform: secretsmanager:%s", AccountID, op))
		return
	case Throttling:
		writeJSONError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	case DecryptionFailure:
		writeJSONError(w, http.StatusBadRequest, "DecryptionFailure",
			"Access to KMS is not allowed")
		return
	case InternalError:
		writeJSONError(w, http.StatusInternalServerError, "InternalServiceError", "An error occurred on the server side.")
		return
	case Hung:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}

	var out any
	var e *apiError
	switch op {
	case "GetSecretValue":
		out, e = s.getSecretValue(&in)
	case "DescribeSecret":
		out, e = s.describeSecret(&in)
	case "CreateSecret":
		out, e = s.createSecret(&in)
	case "PutSecretValue":
		out, e = s.putSecretValue(&in)
	case "DeleteSecret":
		out, e = s.deleteSecret(&in)
	case "RestoreSecret":
		out, e = s.restoreSecret(&in)
	default:
		e = errf("UnknownOperationException", "operation %s is not supported by awstest", op)
	}
	if e != nil {
		writeJSONError(w, e.status, e.code, e.message)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// request holds the members of every supported Secrets Manager request.
type request struct {
	SecretID                   string   `json:"SecretId"`
	Name                       string   `json:"Name"`
	VersionID                  string   `json:"VersionId"`
	VersionStage               string   `json:"VersionStage"`
	SecretString               *string  `json:"SecretString"`
	SecretBinary               []byte   `json:"SecretBinary"` // base64 on the wire
	ClientRequestToken         string   `json:"ClientRequestToken"`
	VersionStages              []string `json:"VersionStages"`
	RecoveryWindowInDays       *int64   `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool    `json:"ForceDeleteWithoutRecovery"`
}

// epoch is a time on the wire: epoch seconds with milliseconds, as AWS's
// JSON protocols send timestamps.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(fmt.Sprintf("%d.%03d", ms/1000, ms%1000)), nil
}

// Messages AWS sends for secrets scheduled for deletion. The provider
// recognises them; keep them as AWS words them.
const (
	msgMarkedForDeletion   = "You can't perform this operation on the secret because it was marked for deletion."
	msgCreateWhileDeleting = "You can't create this secret because a secret with this name is already scheduled for deletion."
	msgNotFound            = "Secrets Manager can't find the specified secret."
	msgVersionNotFound     = "Secrets Manager can't find the specified secret value for staging label: %s"
	msgVersionIDNotFound   = "Secrets Manager can't find the specified secret value for VersionId: %s"
)

// find returns the secret named or ARN'd by id.
func (s *Server) findLocked(id string) *secret {
	if sec := s.secrets[id]; sec != nil {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.arn == id {
			return sec
		}
	}
	return nil
}

func (s *Server) liveLocked(id string) (*secret, *apiError) {
	if id == "" || len(id) > 2048 {
		return nil, errf("InvalidParameterException", "SecretId must be 1 to 2048 characters")
	}
	sec := s.findLocked(id)
	if sec == nil {
		return nil, errf("ResourceNotFoundException", msgNotFound)
	}
	if !sec.deleted.IsZero() {
		return nil, errf("InvalidRequestException", msgMarkedForDeletion)
	}
	return sec, nil
}

func (s *Server) getSecretValue(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, e := s.liveLocked(in.SecretID)
	if e != nil {
		return nil, e
	}
	var ver *version
	switch {
	case in.VersionID != "":
		ver = sec.versions[in.VersionID]
		if ver == nil || (in.VersionStage != "" && !ver.stages[in.VersionStage]) {
			return nil, errf("ResourceNotFoundException", msgVersionIDNotFound, in.VersionID)
		}
	default:
		stage := in.VersionStage
		if stage == "" {
			stage = "AWSCURRENT"
		}
		ver = sec.byStage(stage)
		if ver == nil {
			return nil, errf("ResourceNotFoundException", msgVersionNotFound, stage)
		}
	}
	out := map[string]any{
		"ARN":           sec.arn,
		"Name":          sec.name,
		"VersionId":     ver.id,
		"VersionStages": ver.stageList(),
		"CreatedDate":   epoch(ver.created),
	}
	if ver.bin != nil {
		out["SecretBinary"] = ver.bin // base64 by encoding/json
	} else {
		out["SecretString"] = ver.str
	}
	return out, nil
}

func (s *Server) describeSecret(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.findLocked(in.SecretID)
	if sec == nil {
		return nil, errf("ResourceNotFoundException", msgNotFound)
	}
	ids := map[string][]string{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			ids[id] = v.stageList()
		}
	}
	out := map[string]any{
		"ARN":                sec.arn,
		"Name":               sec.name,
		"CreatedDate":        epoch(sec.created),
		"VersionIdsToStages": ids,
	}
	if !sec.deleted.IsZero() {
		out["DeletedDate"] = epoch(sec.deleted)
	}
	return out, nil
}

// nameRE is what CreateSecret accepts as a name.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!-]{1,512}$`)

// value checks the SecretString / SecretBinary pair of a write.
func (in *request) value() (str string, bin []byte, e *apiError) {
	switch {
	case in.SecretString != nil && in.SecretBinary != nil:
		return "", nil, errf("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
	case in.SecretString != nil:
		if len(*in.SecretString) > maxSecretSize {
			return "", nil, errf("InvalidParameterException", "SecretString exceeds the maximum size of %d bytes", maxSecretSize)
		}
		return *in.SecretString, nil, nil
	case in.SecretBinary != nil:
		if len(in.SecretBinary) > maxSecretSize {
			return "", nil, errf("InvalidParameterException", "SecretBinary exceeds the maximum size of %d bytes", maxSecretSize)
		}
		return "", in.SecretBinary, nil
	}
	return "", nil, errf("InvalidParameterException", "You must provide either SecretString or SecretBinary.")
}

// versionID returns the request's ClientRequestToken, or a new UUID.
func (in *request) versionID() (string, *apiError) {
	if in.ClientRequestToken == "" {
		return newUUID(), nil
	}
	if n := len(in.ClientRequestToken); n < 32 || n > 64 {
		return "", errf("InvalidParameterException", "ClientRequestToken must be 32 to 64 characters")
	}
	return in.ClientRequestToken, nil
}

func (s *Server) createSecret(in *request) (any, *apiError) {
	if !nameRE.MatchString(in.Name) {
		return nil, errf("InvalidParameterException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	str, bin, e := in.value()
	if e != nil {
		return nil, e
	}
	vid, e := in.versionID()
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[in.Name]; sec != nil {
		if !sec.deleted.IsZero() {
			return nil, errf("InvalidRequestException", msgCreateWhileDeleting)
		}
		return nil, errf("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	sec := s.newSecretLocked(in.Name)
	s.addVersionLocked(sec, &version{id: vid, str: str, bin: cloneBytes(bin), created: s.now()}, []string{"AWSCURRENT"})
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": vid}, nil
}

func (s *Server) putSecretValue(in *request) (any, *apiError) {
	str, bin, e := in.value()
	if e != nil {
		return nil, e
	}
	vid, e := in.versionID()
	if e != nil {
		return nil, e
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{"AWSCURRENT"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, e := s.liveLocked(in.SecretID)
	if e != nil {
		return nil, e
	}
	if old := sec.versions[vid]; old != nil {
		// A repeated token is idempotent only with the same value.
		if old.str != str || !bytes.Equal(old.bin, bin) || (old.bin == nil) != (bin == nil) {
			return nil, errf("ResourceExistsException", "A version with VersionId %s already exists with a different value.", vid)
		}
	} else {
		s.addVersionLocked(sec, &version{id: vid, str: str, bin: cloneBytes(bin), created: s.now()}, stages)
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": vid, "VersionStages": sec.versions[vid].stageList()}, nil
}

func (s *Server) deleteSecret(in *request) (any, *apiError) {
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		if force {
			return nil, errf("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, errf("InvalidParameterException", "RecoveryWindowInDays must be between 7 and 30 days.")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, e := s.liveLocked(in.SecretID)
	if e != nil {
		return nil, e
	}
	now := s.now()
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if force {
		delete(s.secrets, sec.name)
		out["DeletionDate"] = epoch(now)
	} else {
		sec.deleted = now
		out["DeletionDate"] = epoch(now.Add(time.Duration(days) * 24 * time.Hour))
	}
	return out, nil
}

func (s *Server) restoreSecret(in *request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.findLocked(in.SecretID)
	if sec == nil {
		return nil, errf("ResourceNotFoundException", msgNotFound)
	}
	sec.deleted = time.Time{}
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status, buf = http.StatusInternalServerError, *bytes.NewBufferString(`{"__type":"InternalServiceError","Message":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeJSONError writes AWS's JSON error shape. The code goes in __type
// only, not in X-Amzn-ErrorType, so the SDK's body path is what is tested.
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"__type": code, "Message": message})
}

const (
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secretChars = alnum + "/+"
)

// randomString returns n characters drawn from chars with crypto/rand.
func randomString(n int, chars string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
