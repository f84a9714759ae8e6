package hashicorp

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// closingTransport ties every request to the provider's lifetime: Close
// cancels ctx and so aborts requests in flight, including the token renewals
// the LifetimeWatcher makes without a context of its own. It also records
// the Retry-After of throttled answers for the call that made the request.
type closingTransport struct {
	base *http.Transport
	ctx  context.Context
}

func (t *closingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	release := func() {
		stop()
		cancel()
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	recordRetryAfter(req.Context(), resp)
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases the request's context when the body is closed.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// maxRetryWait is the api client's default longest wait between retries.
const maxRetryWait = 1500 * time.Millisecond

// checkRetry is the Vault API's retry policy, except that it does not retry
// once the provider is closed, nor when the request's deadline would pass
// before the retry could be made: the caller then gets Vault's answer
// (Unavailable) rather than a deadline.
func (p *Provider) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, cerr := api.DefaultRetryPolicy(ctx, resp, err)
	if !retry || cerr != nil {
		return retry, cerr
	}
	if p.ctx.Err() != nil {
		return false, nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*maxRetryWait {
		return false, nil
	}
	return true, nil
}
