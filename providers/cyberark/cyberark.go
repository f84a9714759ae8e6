package cyberark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secretbroker/secretbroker/providers"
)

// maxBody bounds the size of a CCP answer read into memory.
const maxBody = 4 << 20

// errPasswordChanging is the inner error when CCP answers with a password
// and PasswordChangeInProcess true until Get runs out of attempts.
var errPasswordChanging = errors.New("cyberark: CCP reports PasswordChangeInProcess")

// kind is the provider kind named in NotWritable errors.
const kind = "cyberark"

// checkObject is the object Check asks for in the check Safe. It should not
// exist; its name has no character special to CCP's Query or its regular
// expressions.
const checkObject = "SecretBrokerHealthCheck"

// Provider reads passwords from CyberArk's Central Credential Provider as
// one AppID. It is never Writable: CCP cannot store passwords. Every error
// it returns is a context error of the caller or holds a *providers.Error.
// It is safe for concurrent use.
type Provider struct {
	s         *settings
	client    *http.Client
	transport *http.Transport
	closed    atomic.Bool
}

var _ providers.Provider = (*Provider)(nil)

// New validates cfg, loads its certificate files and returns a provider. It
// makes no request: an unreachable CCP shows on the first Get. Errors about
// cfg are *providers.ConfigError naming the offending field.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	if s.insecure {
		s.log.Warn("cyberark: TLS certificate verification of CCP is DISABLED by tls.insecure_skip_verify_this_is_unsafe; "+
			"anyone on the network path can impersonate CCP, see every request and hand out false passwords; "+
			"use tls.ca_file instead",
			"host", s.endpoint.Host)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = s.tls
	tr.ForceAttemptHTTP2 = true
	tr.MaxIdleConnsPerHost = 16
	p := &Provider{
		s:         s,
		transport: tr,
		client: &http.Client{
			Transport: tr,
			// Redirects are not followed: they would carry the AppID,
			// the Reason and the client certificate elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return p, nil
}

// Close releases idle connections. Get fails after Close.
func (p *Provider) Close() error {
	p.closed.Store(true)
	p.transport.CloseIdleConnections()
	return nil
}

// Writable reports false: CCP only reads.
func (p *Provider) Writable() bool { return false }

// Put fails with FailedPrecondition (providers.NotWritable): CCP cannot
// store passwords. It makes no request.
func (p *Provider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	return providers.NotWritable(kind)
}

// Delete fails with FailedPrecondition (providers.NotWritable): CCP cannot
// delete passwords. It makes no request.
func (p *Provider) Delete(ctx context.Context, ref providers.Ref) error {
	return providers.NotWritable(kind)
}

// Check reports whether CCP answers this AppID: it asks, once and without
// password-change retries, for the object "SecretBrokerHealthCheck" in
// Config.CheckSafe. CCP authenticates the AppID (client certificate,
// allowed machines) and asks the Vault before it answers APPAP004E, so
// that answer, the expected one, means healthy; so do the other answers
// about the object itself (found, several matches, being changed), whose
// content is dropped. Everything else is the error Get would return: an
// unreachable CCP or TLS failure Unavailable, a refused AppID
// PermissionDenied, a CCP that cannot reach the Vault Unavailable.
func (p *Provider) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cyberark: %w", err)
	}
	if p.closed.Load() {
		return providers.Errorf(providers.FailedPrecondition, nil, "the CyberArk provider is closed")
	}
	u, err := p.requestURL(providers.Ref{Location: p.s.checkSafe, Name: checkObject, Reason: "secretbroker health check"})
	if err != nil {
		return err
	}
	_, err = p.getOnce(ctx, u) // a found object's password is dropped
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.category() {
		case catNotFound, catAmbiguous, catPasswordChange:
			return nil
		}
	}
	return err
}

// Get asks CCP for the password object ref.Name in the Safe ref.Location,
// with ref.Reason as CCP's Reason. CCP keeps no versions: a non-empty
// ref.Version is an InvalidArgument error. While CyberArk reports that it
// is changing the password (PasswordChangeInProcess, APPAP282E), Get
// retries as Config.MaxAttempts and Config.Backoff say; when it gives up,
// it fails with Unavailable, or, with Config.ServeDuringChange and a
// password in CCP's last answer, returns that password with Rotating set.
func (p *Provider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cyberark: %w", err)
	}
	if p.closed.Load() {
		return nil, providers.Errorf(providers.FailedPrecondition, nil, "the CyberArk provider is closed")
	}
	u, err := p.requestURL(ref)
	if err != nil {
		return nil, err
	}
	wait := p.s.backoff
	for attempt := 1; ; attempt++ {
		sec, err := p.getOnce(ctx, u)
		changing := (err == nil && sec.Rotating) || isPasswordChange(err)
		if !changing {
			return sec, err
		}
		if attempt >= p.s.attempts {
			return p.stillChanging(sec, err)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			// Waiting would only end in DeadlineExceeded; the caller
			// learns more from the real reason, now.
			return p.stillChanging(sec, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("cyberark: waiting while CyberArk changes the password: %w", ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// stillChanging is Get's answer when it stops waiting for a password
// change: sec (CCP's last password, Rotating set) if there is one and
// Config.ServeDuringChange allows it, else Unavailable with err (or
// errPasswordChanging) inside and the password dropped.
func (p *Provider) stillChanging(sec *providers.Secret, err error) (*providers.Secret, error) {
	if sec != nil && p.s.serveChanging {
		return sec, nil
	}
	if err == nil {
		err = errPasswordChanging
	}
	return nil, providers.Errorf(providers.Unavailable, err, reasonPasswordChange)
}

func isPasswordChange(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.category() == catPasswordChange
}

// requestURL builds the GetPassword URL for ref. Every value goes through
// url.Values, which percent-encodes "\", "@", "+", "&", ";", spaces and
// non-ASCII characters.
func (p *Provider) requestURL(ref providers.Ref) (string, error) {
	if ref.Location == "" {
		return "", providers.Errorf(providers.InvalidArgument, nil,
			"CyberArk needs a Safe (the locker's safe) and none was given")
	}
	if ref.Name == "" {
		return "", providers.Errorf(providers.InvalidArgument, nil, "empty object name")
	}
	if ref.Version != "" {
		return "", providers.Errorf(providers.InvalidArgument, nil,
			"CyberArk CCP serves only the current password; versions are not supported")
	}
	v := url.Values{}
	v.Set("AppID", p.s.appID)
	if p.s.queryFormat == "" {
		v.Set("Safe", ref.Location)
		v.Set("Folder", p.s.folder)
		v.Set("Object", ref.Name)
	} else {
		if strings.ContainsRune(ref.Location, ';') || strings.ContainsRune(ref.Name, ';') {
			return "", providers.Errorf(providers.InvalidArgument, nil,
				`a Safe or object name containing ";" cannot be sent in a CyberArk query`)
		}
		v.Set("Query", "Safe="+ref.Location+";Folder="+p.s.folder+";Object="+ref.Name)
		v.Set("QueryFormat", p.s.queryFormat)
	}
	if ref.Reason != "" {
		v.Set("Reason", ref.Reason)
	}
	if p.s.connTimeout > 0 {
		v.Set("ConnectionTimeout", strconv.Itoa(p.s.connTimeout))
	}
	u := *p.s.endpoint
	u.RawQuery = v.Encode()
	return u.String(), nil
}

// getOnce makes one request. A password that CCP reports as being changed
// comes back with Rotating set. Every error is classified.
func (p *Provider) getOnce(ctx context.Context, u string) (*providers.Secret, error) {
	rctx, cancel := context.WithTimeout(ctx, p.s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, providers.Errorf(providers.Internal, err, "cannot build the CyberArk CCP request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, p.transportError(ctx, rctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, p.transportError(ctx, rctx, err)
	}
	if len(body) > maxBody {
		return nil, providers.Errorf(providers.Internal, nil, "the CyberArk CCP answer is larger than %d bytes", maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		ae := apiErrorFrom(resp.StatusCode, body)
		e := providers.Errorf(ae.code(), ae, "%s", ae.reason())
		if e.Code == providers.ResourceExhausted || e.Code == providers.Unavailable {
			e.RetryAfter = providers.RetryAfterHeader(resp.Header, time.Now())
		}
		return nil, e
	}
	return decodeAccount(body)
}

// transportError wraps an error of the HTTP exchange. The URL (with the
// query) is left out of the inner error: only the endpoint is named.
func (p *Provider) transportError(ctx, rctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	inner := fmt.Errorf("cyberark: GET %s: %w", p.s.endpoint.Redacted(), err)
	switch {
	case ctx.Err() != nil:
		// The caller's own cancellation or deadline: keep the context
		// error in the chain so that CodeOf reports it.
		if errors.Is(err, ctx.Err()) {
			return inner
		}
		return fmt.Errorf("cyberark: GET %s: %w (%v)", p.s.endpoint.Redacted(), ctx.Err(), err)
	case rctx.Err() != nil:
		return providers.Errorf(providers.Unavailable, inner, reasonRequestTimeout)
	}
	code, why, ok := providers.TransportCode(err)
	switch {
	case !ok:
		return providers.Errorf(providers.Unavailable, inner, reasonUnreachable)
	case providers.IsTLSError(err):
		return providers.Errorf(code, inner, "CyberArk CCP: %s (%s)", why, reasonTLSHint)
	}
	return providers.Errorf(code, inner, "%s: %s", reasonUnreachable, why)
}

// The CCP properties that become the provider's standard attributes.
var mapped = map[string]string{
	"Content":     "password",
	"UserName":    "username",
	"LogonDomain": "domain",
	"Address":     "address",
}

// decodeAccount turns a successful CCP answer into a Secret. Its errors
// never include the body or a JSON decoder's message (which can quote a
// character of the body), since the body holds the password.
func decodeAccount(body []byte) (*providers.Secret, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var props map[string]any
	if err := dec.Decode(&props); err != nil || props == nil {
		return nil, providers.Errorf(providers.Internal,
			fmt.Errorf("cyberark: CCP answer of %d bytes is not a JSON object", len(body)),
			"CyberArk CCP answered something that is not an account")
	}
	if _, ok := props["Content"].(string); !ok {
		if code, _ := props["ErrorCode"].(string); code != "" {
			msg, _ := props["ErrorMsg"].(string)
			ae := &APIError{Status: http.StatusOK, Code: cleanCode(code), Message: cleanMessage(msg)}
			return nil, providers.Errorf(ae.code(), ae, "%s", ae.reason())
		}
		return nil, providers.Errorf(providers.Internal,
			errors.New("cyberark: CCP answer has no string Content property"),
			"CyberArk CCP answered an account without a password")
	}
	rotating := truthy(props["PasswordChangeInProcess"])
	attrs := make(map[string]string, len(props))
	for k, v := range props {
		if _, ok := mapped[k]; ok || isMappedName(k) {
			// Mapped below; a CCP property spelled like a mapped
			// attribute (a custom "password" property, say) is dropped
			// rather than allowed to override it.
			continue
		}
		if s, ok := propString(v); ok {
			attrs[k] = s
		}
	}
	for k, m := range mapped {
		if s, ok := propString(props[k]); ok {
			attrs[m] = s
		}
	}
	return &providers.Secret{Attributes: attrs, UpdatedAt: updatedAt(props), Rotating: rotating}, nil
}

// propString renders one CCP property value as an attribute. CCP sends
// strings; booleans and numbers are kept in their JSON spelling, null is
// dropped, objects and arrays are kept as compact JSON.
func propString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

func isMappedName(k string) bool {
	for _, m := range mapped {
		if k == m {
			return true
		}
	}
	return false
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true")
	}
	return false
}

// updatedAt reads the time of the last password change, or of the
// account's creation, from CCP's LastSuccessChange or CreationDate
// properties (Unix seconds), when the account has them.
func updatedAt(props map[string]any) time.Time {
	for _, k := range []string{"LastSuccessChange", "CreationDate"} {
		s, ok := propString(props[k])
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err == nil && n > 0 {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Time{}
}
