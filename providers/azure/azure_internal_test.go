package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretbroker/secretbroker/providers"
)

// fakeAPI answers every call with secret or err.
type fakeAPI struct {
	secret azsecrets.Secret
	err    error
}

func (f *fakeAPI) GetSecret(context.Context, string, string, *azsecrets.GetSecretOptions) (azsecrets.GetSecretResponse, error) {
	return azsecrets.GetSecretResponse{Secret: f.secret}, f.err
}

func (f *fakeAPI) SetSecret(context.Context, string, azsecrets.SetSecretParameters, *azsecrets.SetSecretOptions) (azsecrets.SetSecretResponse, error) {
	return azsecrets.SetSecretResponse{}, f.err
}

func (f *fakeAPI) DeleteSecret(context.Context, string, *azsecrets.DeleteSecretOptions) (azsecrets.DeleteSecretResponse, error) {
	return azsecrets.DeleteSecretResponse{}, f.err
}

func responseError(status int, body string) error {
	req, _ := http.NewRequest(http.MethodGet, "https://v.vault.azure.net/secrets/a", nil)
	return runtime.NewResponseError(&http.Response{
		StatusCode: status, Status: http.StatusText(status), Request: req,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body)),
	})
}

func TestErrorClassification(t *testing.T) {
	var syntaxErr error
	var v map[string]string
	syntaxErr = json.Unmarshal([]byte(`{"value":"Tr0ub4dor"X}`), &v)
	cases := []struct {
		name   string
		err    error
		code   providers.Code
		reason string
	}{
		{"404", responseError(404, `{"error":{"code":"SecretNotFound","message":"A secret with (name/id) a was not found"}}`), providers.NotFound, ""},
		{"403", responseError(403, `{"error":{"code":"Forbidden","message":"no","innererror":{"code":"AccessDenied"}}}`), providers.PermissionDenied, "refused the daemon's identity"},
		{"403Disabled", responseError(403, `{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}`), providers.NotFound, "secret is disabled"},
		{"401", responseError(401, `{"error":{"code":"Unauthorized","message":"AKV10022: Invalid audience"}}`), providers.PermissionDenied, "token"},
		{"409Deleted", responseError(409, `{"error":{"code":"Conflict","message":"x","innererror":{"code":"ObjectIsDeletedButRecoverable"}}}`), providers.FailedPrecondition, "purge"},
		{"429", responseError(429, `{"error":{"code":"Throttled","message":"x"}}`), providers.ResourceExhausted, "throttling"},
		{"500", responseError(500, `{"error":{"code":"InternalError","message":"x"}}`), providers.Unavailable, "unavailable"},
		{"503NoBody", responseError(503, ``), providers.Unavailable, "unavailable"},
		{"400", responseError(400, `{"error":{"code":"BadParameter","message":"x"}}`), providers.InvalidArgument, ""},
		{"Refused", &url.Error{Op: "Get", URL: "https://v", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, providers.Unavailable, "could not be reached: connection refused"},
		{"NotTLS", &url.Error{Op: "Get", URL: "https://v", Err: errors.New("http: server gave HTTP response to HTTPS client")}, providers.Unavailable, "could not be reached"},
		{"DNS", &url.Error{Op: "Get", URL: "https://v", Err: &net.DNSError{Err: "no such host", Name: "v", IsNotFound: true}}, providers.Unavailable, "does not resolve"},
		{"EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), providers.Unavailable, ""},
		{"Decode", fmt.Errorf("unmarshalling type *azsecrets.Secret: %w", syntaxErr), providers.Internal, "cannot decode"},
		{"Other", errors.New("something else"), providers.Unknown, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newWithAPI(&fakeAPI{err: c.err}, "", true)
			if got, _, _ := classify(c.err); got != c.code {
				t.Errorf("classify(raw error) = %v, want %v", got, c.code)
			}
			_, err := p.Get(context.Background(), providers.Ref{Name: "a"})
			if got := providers.CodeOf(err); got != c.code {
				t.Errorf("CodeOf(Get error) = %v, want %v: %v", got, c.code, err)
			}
			reason := providers.ReasonOf(err)
			if reason == "" {
				t.Errorf("no reason: %v", err)
			}
			if c.reason != "" && !strings.Contains(reason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", reason, c.reason)
			}
			for _, bad := range []string{"https://", "vault.azure.net", "/secrets/", "Tr0ub4dor"} {
				if strings.Contains(reason, bad) {
					t.Errorf("reason %q contains %q", reason, bad)
				}
			}
			if strings.Contains(fmt.Sprintf("%+v", err), "Tr0ub4dor") {
				t.Errorf("the error quotes the response body: %v", err)
			}
			if err := p.Put(context.Background(), providers.Ref{Name: "a"}, &providers.Secret{}); providers.CodeOf(err) != c.code {
				t.Errorf("Put: %v, want %v", providers.CodeOf(err), c.code)
			}
			if err := p.Delete(context.Background(), providers.Ref{Name: "a"}); providers.CodeOf(err) != c.code {
				t.Errorf("Delete: %v, want %v", providers.CodeOf(err), c.code)
			}
			// Check takes only a 404 for healthy.
			if err := p.Check(context.Background()); c.code == providers.NotFound && err != nil || c.code != providers.NotFound && providers.CodeOf(err) != c.code {
				t.Errorf("Check: %v, want %v", err, c.code)
			}
		})
	}
}

func TestContextWinsOverCredentialError(t *testing.T) {
	// The credential's errors do not wrap context errors; the provider
	// checks ctx itself.
	ctx, cancel := context.WithCancel(context.Background())
	api := &fakeAPI{err: errors.New("ClientCertificateCredential: context canceled")}
	p := newWithAPI(api, "", false)
	cancelAfter := &cancelingAPI{fakeAPI: api, cancel: cancel}
	p.api = cancelAfter
	_, err := p.Get(ctx, providers.Ref{Name: "a"})
	if got := providers.CodeOf(err); got != providers.Canceled {
		t.Fatalf("code %v, want Canceled: %v", got, err)
	}
}

type cancelingAPI struct {
	*fakeAPI
	cancel func()
}

func (c *cancelingAPI) GetSecret(ctx context.Context, n, v string, o *azsecrets.GetSecretOptions) (azsecrets.GetSecretResponse, error) {
	c.cancel()
	return c.fakeAPI.GetSecret(ctx, n, v, o)
}

func TestSecretStates(t *testing.T) {
	now := time.Now()
	id := azsecrets.ID("https://v.vault.azure.net/secrets/a/0123456789abcdef0123456789abcdef")
	updated := now.Add(-time.Hour).Truncate(time.Second)
	for _, c := range []struct {
		name   string
		attrs  *azsecrets.SecretAttributes
		value  *string
		code   providers.Code
		reason string
	}{
		{"Enabled", &azsecrets.SecretAttributes{Enabled: to.Ptr(true), Updated: &updated}, to.Ptr("pw"), providers.OK, ""},
		{"NoAttributes", nil, to.Ptr("pw"), providers.OK, ""},
		{"Disabled", &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}, to.Ptr("pw"), providers.NotFound, "secret is disabled"},
		{"Expired", &azsecrets.SecretAttributes{Expires: to.Ptr(now.Add(-time.Second))}, to.Ptr("pw"), providers.NotFound, "secret has expired"},
		{"NotYetValid", &azsecrets.SecretAttributes{NotBefore: to.Ptr(now.Add(time.Hour))}, to.Ptr("pw"), providers.NotFound, "secret is not yet valid"},
		{"NoValue", nil, nil, providers.Internal, "without a value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newWithAPI(&fakeAPI{secret: azsecrets.Secret{ID: &id, Attributes: c.attrs, Value: c.value}}, "", false)
			s, err := p.Get(context.Background(), providers.Ref{Name: "a"})
			if got := providers.CodeOf(err); got != c.code {
				t.Fatalf("code %v, want %v: %v", got, c.code, err)
			}
			if reason := providers.ReasonOf(err); !strings.Contains(reason, c.reason) || (c.reason == "" && reason != "") {
				t.Errorf("reason %q, want %q", reason, c.reason)
			}
			if err == nil {
				if s.Version != "0123456789abcdef0123456789abcdef" {
					t.Errorf("Version %q", s.Version)
				}
				if c.attrs != nil && !s.UpdatedAt.Equal(updated) {
					t.Errorf("UpdatedAt %v, want %v", s.UpdatedAt, updated)
				}
			}
		})
	}
}

func TestParseContentType(t *testing.T) {
	for _, c := range []struct {
		in, media string
		params    map[string]string
	}{
		{"", "", map[string]string{}},
		{"application/json", "application/json", map[string]string{}},
		{"username=bob", "", map[string]string{"username": "bob"}},
		{`text/plain; UserName="ACME\\bob"; domain=ACME`, "text/plain", map[string]string{"username": `ACME\bob`, "domain": "ACME"}},
		{`username="a;b"`, "", map[string]string{"username": `"a`}}, // ';' separates items
	} {
		media, params := parseContentType(c.in)
		if media != c.media || fmt.Sprint(params) != fmt.Sprint(c.params) {
			t.Errorf("parseContentType(%q) = %q %v, want %q %v", c.in, media, params, c.media, c.params)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://v.vault.azure.net/secrets/a", nil)
	throttled := func(h http.Header) error {
		h.Set("Content-Type", "application/json")
		return runtime.NewResponseError(&http.Response{StatusCode: 429, Status: "Too Many Requests", Request: req, Header: h,
			Body: io.NopCloser(strings.NewReader(`{"error":{"code":"Throttled","message":"x"}}`))})
	}
	for name, c := range map[string]struct {
		h    http.Header
		want time.Duration
	}{
		"seconds":      {http.Header{"Retry-After": {"4"}}, 4 * time.Second},
		"milliseconds": {http.Header{"X-Ms-Retry-After-Ms": {"1500"}, "Retry-After": {"2"}}, 1500 * time.Millisecond},
		"none":         {http.Header{}, 0},
	} {
		p := newWithAPI(&fakeAPI{err: throttled(c.h)}, "", false)
		_, err := p.Get(context.Background(), providers.Ref{Name: "a"})
		if providers.CodeOf(err) != providers.ResourceExhausted || providers.RetryAfterOf(err) != c.want {
			t.Errorf("%s: %v, RetryAfter %v; want ResourceExhausted, %v", name, err, providers.RetryAfterOf(err), c.want)
		}
	}
}
