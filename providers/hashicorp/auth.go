package hashicorp

import (
	"context"
	"math/rand/v2"
	"os"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretbroker/secretbroker/providers"
)

// authenticator obtains a Vault token. The *api.Secret it returns has Auth
// set: the token, its TTL (0: it never expires) and whether it is renewable.
type authenticator interface {
	login(ctx context.Context) (*api.Secret, error)
}

// loginWriter is the one call the login methods make: a write to
// auth/<mount>/login without a token.
type loginWriter interface {
	WriteWithContext(ctx context.Context, path string, data map[string]any) (*api.Secret, error)
}

// credentialErr wraps the failure to read a credential file so that the
// caller sees a safe reason.
func credentialErr(err error) error {
	return providers.Errorf(providers.FailedPrecondition, err, "cannot read the configured credential file")
}

// methodLogin logs in with approle, kubernetes or cert: it builds the login
// body from files read at every login, so rotated credentials are picked up.
type methodLogin struct {
	path string // auth/<mount>/login
	body func() (map[string]any, error)
	w    loginWriter
}

func (m *methodLogin) login(ctx context.Context) (*api.Secret, error) {
	body, err := m.body()
	if err != nil {
		return nil, err
	}
	sec, err := m.w.WriteWithContext(ctx, m.path, body)
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, providers.Errorf(providers.Internal, nil, "vault answered the login without a token")
	}
	return sec, nil
}

// tokenLogin "logs in" with a static token: it reads the token from its file
// (or the environment) and looks it up to learn its TTL and renewability.
type tokenLogin struct {
	file   string
	lookup func(ctx context.Context, token string) (*api.Secret, error)
}

func (t *tokenLogin) read() (string, error) {
	if t.file == "" {
		tok := os.Getenv(envToken)
		if tok == "" {
			return "", providers.Errorf(providers.FailedPrecondition, nil, "the VAULT_TOKEN environment variable is empty")
		}
		return tok, nil
	}
	tok, err := readCredential(t.file)
	if err != nil {
		return "", credentialErr(err)
	}
	return tok, nil
}

func (t *tokenLogin) login(ctx context.Context) (*api.Secret, error) {
	tok, err := t.read()
	if err != nil {
		return nil, err
	}
	info, err := t.lookup(ctx, tok)
	if err != nil {
		return nil, err
	}
	auth := &api.SecretAuth{ClientToken: tok}
	if info != nil {
		ttl, _ := info.TokenTTL()
		auth.LeaseDuration = int(ttl / time.Second)
		auth.Renewable, _ = info.TokenIsRenewable()
	}
	return &api.Secret{Auth: auth}, nil
}

// newAuthenticator builds the login of cfg.Auth. lc is a client that sends
// no token; lookup looks a token up with itself.
func newAuthenticator(cfg Config, lc loginWriter, lookup func(context.Context, string) (*api.Secret, error)) authenticator {
	a := cfg.Auth
	path := "auth/" + a.Mount + "/login"
	switch a.Method {
	case MethodAppRole:
		return &methodLogin{path: path, w: lc, body: func() (map[string]any, error) {
			roleID := a.RoleID
			if a.RoleIDFile != "" {
				var err error
				if roleID, err = readCredential(a.RoleIDFile); err != nil {
					return nil, credentialErr(err)
				}
			}
			body := map[string]any{"role_id": roleID}
			if a.SecretIDFile != "" {
				secretID, err := readCredential(a.SecretIDFile)
				if err != nil {
					return nil, credentialErr(err)
				}
				body["secret_id"] = secretID
			}
			return body, nil
		}}
	case MethodKubernetes:
		return &methodLogin{path: path, w: lc, body: func() (map[string]any, error) {
			jwt, err := readCredential(a.TokenFile)
			if err != nil {
				return nil, credentialErr(err)
			}
			return map[string]any{"role": a.Role, "jwt": jwt}, nil
		}}
	case MethodCert:
		return &methodLogin{path: path, w: lc, body: func() (map[string]any, error) {
			body := map[string]any{}
			if a.Name != "" {
				body["name"] = a.Name
			}
			return body, nil
		}}
	default:
		return &tokenLogin{file: a.TokenFile, lookup: lookup}
	}
}

// The session: the current token, the logins that replace it and the
// background goroutine that renews it.

// acquire takes a one-slot semaphore, giving up when ctx is done.
func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// login runs one login and installs its token. Only one login runs at a
// time; a caller waiting for another's login gives up with its ctx.
func (p *Provider) login(ctx context.Context) error {
	_, err := p.loginReplacing(ctx, "")
	return err
}

// loginReplacing logs in, unless stale is not "" and another login already
// replaced that token. It reports whether the token now differs from stale.
func (p *Provider) loginReplacing(ctx context.Context, stale string) (bool, error) {
	if err := acquire(ctx, p.loginSem); err != nil {
		return false, err
	}
	defer func() { <-p.loginSem }()
	if stale != "" && p.client.Token() != stale {
		return true, nil
	}
	sec, err := p.auth.login(ctx)
	if err != nil {
		return false, p.wrap(ctx, err)
	}
	p.client.SetToken(sec.Auth.ClientToken)
	p.mu.Lock()
	p.session = sec
	p.gen++
	p.loginAt = time.Now()
	p.mu.Unlock()
	p.hasSession.Store(true)
	select {
	case p.changed <- struct{}{}:
	default:
	}
	p.log.Debug("vault login succeeded", "method", p.cfg.Auth.Method, "ttl", time.Duration(sec.Auth.LeaseDuration)*time.Second, "renewable", sec.Auth.Renewable)
	return sec.Auth.ClientToken != stale, nil
}

func (p *Provider) current() (*api.Secret, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session, p.gen
}

// recoverDenied is called when Vault refused the token refused. If the
// token itself is no longer good (an agent rotated the token file; a login
// token expired early or was revoked), it logs in again. It reports whether
// a different token is now in use, so that the request is worth retrying.
// A token that is fine but denied the path costs one lookup-self (a token
// file, one read); a login method logs in from here at most once per
// minBackoff.
func (p *Provider) recoverDenied(ctx context.Context, refused string) bool {
	if refused == "" {
		return false
	}
	if p.client.Token() != refused {
		return true // replaced meanwhile
	}
	if t, ok := p.auth.(*tokenLogin); ok {
		if tok, err := t.read(); err != nil || tok == refused {
			return false
		}
		p.log.Info("vault refused the token; using the token file's new content")
	} else {
		p.mu.Lock()
		recent := time.Since(p.loginAt) < p.minBackoff
		p.mu.Unlock()
		if recent {
			// A token just obtained is refused: the path is denied (or the
			// token may not look itself up). Logging in again would only
			// mint tokens.
			return false
		}
		if _, err := p.lookup(ctx, refused); err == nil || classify(err) != providers.PermissionDenied {
			return false // the token is valid: the path is denied
		}
		p.log.Info("vault no longer accepts the token; logging in again")
	}
	changed, err := p.loginReplacing(ctx, refused)
	if err != nil {
		p.log.Warn("vault login failed", "method", p.cfg.Auth.Method, "code", providers.CodeOf(err), "error", err)
	}
	return changed
}

// run is the background goroutine started by New: it watches the current
// token with a LifetimeWatcher (which renews it) and logs in again when the
// watcher gives up, until Close.
func (p *Provider) run() {
	defer close(p.done)
	for {
		select { // a login that happened before we read the session
		case <-p.changed:
		default:
		}
		sec, gen := p.current()
		if sec == nil {
			// New could not log in: wait a little before trying again.
			if !p.sleep(p.minBackoff) || !p.reloginWithBackoff(gen) {
				return
			}
			continue
		}
		switch p.watch(sec) {
		case watchClosed:
			return
		case watchReplaced:
			continue
		case watchEnded:
			// Never log in more often than minBackoff, even when a short
			// token's renewal ends at once.
			p.mu.Lock()
			since := time.Since(p.loginAt)
			p.mu.Unlock()
			if since < p.minBackoff && !p.sleep(p.minBackoff-since) {
				return
			}
			if !p.reloginWithBackoff(gen) {
				return
			}
		}
	}
}

type watchResult int

const (
	watchClosed   watchResult = iota // Close was called
	watchReplaced                    // another login installed a new token
	watchEnded                       // renewal failed or the max TTL is near
)

// watch renews sec's token until renewal stops working, a newer login
// replaces it, or the provider closes.
func (p *Provider) watch(sec *api.Secret) watchResult {
	if sec.Auth.LeaseDuration <= 0 {
		// A token without TTL (root tokens, for one) never expires; a new
		// login only comes from recoverDenied.
		select {
		case <-p.ctx.Done():
			return watchClosed
		case <-p.changed:
			return watchReplaced
		}
	}
	w, err := p.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		p.log.Warn("cannot watch the vault token", "error", err)
		return watchEnded
	}
	// The watcher's goroutine may be inside a renewal request when it is
	// stopped; Close cancels that request and waits for the goroutine.
	p.watchers.Add(1)
	go func() {
		defer p.watchers.Done()
		w.Start()
	}()
	defer w.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return watchClosed
		case <-p.changed:
			return watchReplaced
		case err := <-w.DoneCh():
			if err != nil {
				p.log.Warn("vault token renewal failed; logging in again", "code", classify(err), "error", err)
			} else {
				p.log.Info("vault token is near its end of life; logging in again")
			}
			return watchEnded
		case r := <-w.RenewCh():
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				p.log.Debug("renewed vault token", "ttl", time.Duration(r.Secret.Auth.LeaseDuration)*time.Second)
			}
		}
	}
}

// reloginWithBackoff logs in until it works or the provider closes, waiting
// longer after each failure, unless a login after generation gen happened
// meanwhile. It reports false when the provider closed.
func (p *Provider) reloginWithBackoff(gen uint64) bool {
	delay := p.minBackoff
	for attempt := 1; ; attempt++ {
		if _, g := p.current(); g != gen {
			return true // a Get logged in meanwhile
		}
		err := p.login(p.ctx)
		if err == nil {
			p.log.Info("logged in to vault again", "method", p.cfg.Auth.Method, "attempt", attempt)
			return true
		}
		if p.ctx.Err() != nil {
			return false
		}
		wait := delay/2 + rand.N(delay/2+1)
		p.log.Warn("vault login failed; will retry", "method", p.cfg.Auth.Method, "code", providers.CodeOf(err), "error", err, "attempt", attempt, "retry_in", wait)
		if !p.sleep(wait) {
			return false
		}
		delay = min(delay*2, p.maxBackoff)
	}
}

// sleep waits d and reports false if the provider closed meanwhile.
func (p *Provider) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
