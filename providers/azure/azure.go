package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretbroker/secretbroker/providers"
)

// secretsAPI is the part of the azsecrets client the provider uses; the SDK
// client is one implementation, tests have others.
type secretsAPI interface {
	GetSecret(ctx context.Context, name, version string, options *azsecrets.GetSecretOptions) (azsecrets.GetSecretResponse, error)
	SetSecret(ctx context.Context, name string, parameters azsecrets.SetSecretParameters, options *azsecrets.SetSecretOptions) (azsecrets.SetSecretResponse, error)
	DeleteSecret(ctx context.Context, name string, options *azsecrets.DeleteSecretOptions) (azsecrets.DeleteSecretResponse, error)
}

// Provider reads (and, when writable, writes) the secrets of one Azure Key
// Vault. It implements providers.Provider; every error it returns is a
// context error of the caller or holds a *providers.Error. It is safe for
// concurrent use.
type Provider struct {
	api         secretsAPI
	usernameTag string
	writable    bool
	transport   interface{ CloseIdleConnections() }
	now         func() time.Time
	closed      atomic.Bool
}

var _ providers.Provider = (*Provider)(nil)

// kind is the provider kind named in NotWritable errors.
const kind = "azure"

// The secret and version Check asks for. Key Vault makes version ids of 32
// random hexadecimal digits and never all zeros, so the answer is 404
// whether or not a secret of that name exists, and no value is read.
const (
	healthCheckName    = "secretbroker-health-check"
	healthCheckVersion = "00000000000000000000000000000000"
)

// JSONContentType is the content type of secrets whose value is a JSON
// object of attributes; Put writes it.
const JSONContentType = "application/json"

// MaxValueBytes is Key Vault's limit on the size of a secret value.
const MaxValueBytes = 25 * 1024

var (
	secretNameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)
	versionRE    = regexp.MustCompile(`^[0-9a-zA-Z]{1,64}$`)
)

// New validates cfg (Config.Validate, every problem joined), builds the
// azidentity credential it names and the Key Vault client. It makes no request: a wrong credential shows on the first
// Get. Configuration errors are *providers.ConfigError.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, cred, err := cfg.prepare() // Validate's checks, all of them
	if err != nil {
		return nil, err
	}
	client, err := azsecrets.NewClient(s.vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions: s.options,
		// DisableChallengeResourceVerification stays false: the SDK checks
		// that the challenge's resource matches the vault's domain before it
		// sends a token there.
	})
	if err != nil {
		return nil, configErr("vault_url", "cannot build the Key Vault client: "+err.Error(), "check vault_url or vault_name")
	}
	return &Provider{
		api:         client,
		usernameTag: s.usernameTag,
		writable:    s.writable,
		transport:   s.transport,
		now:         time.Now,
	}, nil
}

// newWithAPI builds a provider over api, for tests.
func newWithAPI(api secretsAPI, usernameTag string, writable bool) *Provider {
	if usernameTag == "" {
		usernameTag = DefaultUsernameTag
	}
	return &Provider{api: api, usernameTag: usernameTag, writable: writable, now: time.Now}
}

// checkRef rejects refs that Key Vault cannot hold before any request.
func (p *Provider) checkRef(ref providers.Ref) error {
	if p.closed.Load() {
		return providers.Errorf(providers.FailedPrecondition, nil, "the Azure Key Vault provider is closed")
	}
	if ref.Location != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "Azure Key Vault has no locations; the locker must not name one")
	}
	if !secretNameRE.MatchString(ref.Name) {
		return providers.Errorf(providers.InvalidArgument, nil,
			"not a Key Vault secret name: Key Vault allows 1-127 characters of 0-9, a-z, A-Z and '-'")
	}
	if ref.Version != "" && !versionRE.MatchString(ref.Version) {
		return providers.Errorf(providers.InvalidArgument, nil, "not a Key Vault secret version: versions are letters and digits")
	}
	return nil
}

// Get reads the secret ref.Name (version ref.Version, "" for the latest)
// and turns its value into attributes as the package documentation says.
func (p *Provider) Get(ctx context.Context, ref providers.Ref) (*providers.Secret, error) {
	if err := p.checkRef(ref); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("azure: get secret: %w", err)
	}
	resp, err := p.api.GetSecret(ctx, ref.Name, ref.Version, nil)
	if err != nil {
		return nil, p.fail(ctx, "get secret", err)
	}
	sec := resp.Secret
	now := p.now()
	if a := sec.Attributes; a != nil {
		if a.Enabled != nil && !*a.Enabled {
			return nil, providers.Errorf(providers.NotFound, nil, "secret is disabled")
		}
		if a.Expires != nil && !a.Expires.After(now) {
			return nil, providers.Errorf(providers.NotFound, nil, "secret has expired")
		}
		if a.NotBefore != nil && a.NotBefore.After(now) {
			return nil, providers.Errorf(providers.NotFound, nil, "secret is not yet valid")
		}
	}
	if sec.Value == nil {
		return nil, providers.Errorf(providers.Internal, nil, "Key Vault returned the secret without a value")
	}
	attrs, err := p.attributes(*sec.Value, deref(sec.ContentType), sec.Tags)
	if err != nil {
		return nil, err
	}
	out := &providers.Secret{Attributes: attrs}
	if sec.ID != nil {
		out.Version = sec.ID.Version()
	}
	if a := sec.Attributes; a != nil && a.Updated != nil {
		out.UpdatedAt = a.Updated.UTC()
	}
	return out, nil
}

// attributes turns a secret value into attributes.
func (p *Provider) attributes(value, contentType string, tags map[string]*string) (map[string]string, error) {
	media, params := parseContentType(contentType)
	isJSON := strings.EqualFold(media, JSONContentType)
	if isJSON || (strings.TrimSpace(contentType) == "" && strings.HasPrefix(strings.TrimSpace(value), "{")) {
		if attrs, ok := jsonAttributes(value); ok {
			return attrs, nil
		}
		if isJSON {
			// No inner error: json's message could quote the value.
			return nil, providers.Errorf(providers.Internal, nil,
				"secret value is not a JSON object although its content type is "+JSONContentType)
		}
	}
	attrs := map[string]string{"password": value}
	if u := tag(tags, p.usernameTag); u != "" {
		attrs["username"] = u
	} else if u := params["username"]; u != "" {
		attrs["username"] = u
	}
	if d := tag(tags, "domain"); d != "" {
		attrs["domain"] = d
	} else if d := params["domain"]; d != "" {
		attrs["domain"] = d
	}
	return attrs, nil
}

// tag returns the value of the tag name, compared without regard to case.
func tag(tags map[string]*string, name string) string {
	if v, ok := tags[name]; ok && v != nil {
		return *v
	}
	for k, v := range tags {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

// jsonAttributes decodes a JSON object into attributes: strings as they are,
// other values as their compact JSON text.
func jsonAttributes(value string) (map[string]string, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &obj); err != nil || obj == nil {
		return nil, false
	}
	attrs := make(map[string]string, len(obj))
	for k, raw := range obj {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			attrs[k] = s
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, false
		}
		attrs[k] = buf.String()
	}
	return attrs, true
}

// parseContentType splits "media/type; key=value; key=\"value\"" into the
// media type and lower-cased parameters. An item without '=' before any
// parameter is the media type.
func parseContentType(ct string) (string, map[string]string) {
	params := map[string]string{}
	media := ""
	for i, item := range strings.Split(ct, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			if i == 0 {
				media = item
			}
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			} else {
				v = v[1 : len(v)-1]
			}
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return media, params
}

// Writable reports whether Put and Delete are allowed (writable: true).
func (p *Provider) Writable() bool { return p.writable }

// Check reports whether the vault accepts the daemon's identity: one
// GetSecret of a version that does not exist, which Key Vault answers 404
// (healthy) after the token exchange and its access check. It reads no
// value. The identity needs the secrets get permission, as for Get. A
// refused credential or identity is PermissionDenied, throttling
// ResourceExhausted, an unreachable vault or authority Unavailable.
func (p *Provider) Check(ctx context.Context) error {
	if p.closed.Load() {
		return providers.Errorf(providers.FailedPrecondition, nil, "the Azure Key Vault provider is closed")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("azure: check: %w", err)
	}
	_, err := p.api.GetSecret(ctx, healthCheckName, healthCheckVersion, nil)
	if err == nil {
		return nil
	}
	err = p.fail(ctx, "check", err)
	if providers.CodeOf(err) == providers.NotFound {
		return nil
	}
	return err
}

// Put stores s as a new version of the secret ref.Name: a JSON object of
// its attributes with content type application/json. It needs writable:
// true.
func (p *Provider) Put(ctx context.Context, ref providers.Ref, s *providers.Secret) error {
	if !p.writable {
		return providers.NotWritable(kind)
	}
	if err := p.checkRef(ref); err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "Key Vault chooses the version of a new secret; leave the version empty")
	}
	if s == nil {
		return providers.Errorf(providers.InvalidArgument, nil, "no secret to store")
	}
	for k, v := range s.Attributes {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return providers.Errorf(providers.InvalidArgument, nil, "Azure Key Vault stores text: an attribute is not valid UTF-8")
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	attrs := s.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	if err := enc.Encode(attrs); err != nil {
		return providers.Errorf(providers.InvalidArgument, nil, "the attributes cannot be encoded as JSON")
	}
	value := strings.TrimSuffix(buf.String(), "\n")
	if len(value) > MaxValueBytes {
		return providers.Errorf(providers.InvalidArgument, nil,
			"the attributes take %d bytes as JSON, more than Key Vault's limit of %d", len(value), MaxValueBytes)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("azure: set secret: %w", err)
	}
	_, err := p.api.SetSecret(ctx, ref.Name, azsecrets.SetSecretParameters{
		Value:       &value,
		ContentType: to.Ptr(JSONContentType),
	}, nil)
	if err != nil {
		return p.fail(ctx, "set secret", err)
	}
	return nil
}

// Delete deletes the secret ref.Name (all its versions). On vaults with soft
// delete (the default) the secret stays recoverable until it is purged, and
// its name cannot be reused meanwhile. It needs writable: true.
func (p *Provider) Delete(ctx context.Context, ref providers.Ref) error {
	if !p.writable {
		return providers.NotWritable(kind)
	}
	if err := p.checkRef(ref); err != nil {
		return err
	}
	if ref.Version != "" {
		return providers.Errorf(providers.InvalidArgument, nil, "Key Vault deletes a secret with all its versions; leave the version empty")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("azure: delete secret: %w", err)
	}
	if _, err := p.api.DeleteSecret(ctx, ref.Name, nil); err != nil {
		return p.fail(ctx, "delete secret", err)
	}
	return nil
}

// Close releases idle connections. The provider refuses requests after it.
func (p *Provider) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if p.transport != nil {
		p.transport.CloseIdleConnections()
	}
	return nil
}

// fail wraps an error of the SDK for the caller: a context error when ctx
// is done (the SDK's credential errors do not always wrap it), otherwise a
// classified *providers.Error with a caller-safe reason.
func (p *Provider) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return fmt.Errorf("azure: %s: %w", op, err)
		}
		return fmt.Errorf("azure: %s: %w: %w", op, ctxErr, err)
	}
	code, reason, keep := classify(err)
	var wait time.Duration
	if providers.Retryable(code) {
		wait = retryAfter(err)
	}
	if !keep {
		err = nil
	}
	if reason == "" {
		reason = defaultReason(code)
	}
	if err != nil {
		err = fmt.Errorf("azure: %s: %w", op, err)
	}
	e := providers.Errorf(code, err, "%s", reason)
	e.RetryAfter = wait
	return e
}

// defaultReason is the reason of errors classify has no more words for.
func defaultReason(c providers.Code) string {
	switch c {
	case providers.NotFound:
		return "no such secret in the vault"
	case providers.PermissionDenied:
		return "Azure Key Vault refused the daemon's identity"
	case providers.Unavailable:
		return "Azure Key Vault is unavailable"
	case providers.ResourceExhausted:
		return "Azure Key Vault is throttling requests"
	case providers.InvalidArgument:
		return "Azure Key Vault rejected the request as invalid"
	default:
		return "Azure Key Vault request failed"
	}
}

// statusCode classifies an HTTP status of the vault or the authority.
func statusCode(status int) providers.Code {
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		return providers.NotFound
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.PermissionDenied
	case status == http.StatusTooManyRequests:
		return providers.ResourceExhausted
	case status == http.StatusRequestTimeout || status >= 500:
		return providers.Unavailable
	case status == http.StatusConflict:
		return providers.FailedPrecondition
	case status == http.StatusBadRequest:
		return providers.InvalidArgument
	default:
		return providers.Unknown
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
