package broker

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// Result is a credential that was served.
type Result struct {
	// Secret holds the attributes (only those asked for, when the request
	// named some).
	Secret *providers.Secret
	// Served is the candidate that was read.
	Served Candidate
	// Tried lists every candidate read, in order, the served one last.
	Tried []Candidate
	// LoginName is built by the username template, or is the username
	// attribute for auto-login credentials without a template.
	LoginName string
	// Stale is set when a cache served the value past its time to live
	// because the vault could not be reached.
	Stale bool
}

// GetCredential returns the credential req names: for a request with a
// username, the user-defined credential if it exists, else the system one,
// from the first of the locker's places that can answer. Only NotFound falls
// back from user to system; Unavailable and ResourceExhausted (and NotFound,
// when the locker says so) fail over to the next place.
func (b *Broker) GetCredential(ctx context.Context, req Request) (*Result, error) {
	req.AutoLogin = false
	c, err := b.begin(ctx, auth.OpCredential, "get credential", req)
	var res *Result
	if err == nil {
		res, err = b.readLocker(ctx, c)
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return res, nil
}

// GetAutoLogin returns the auto-login credential of req.Username.
func (b *Broker) GetAutoLogin(ctx context.Context, req Request) (*Result, error) {
	req.AutoLogin, req.Locker, req.Credential = true, "", ""
	c, err := b.begin(ctx, auth.OpAutoLogin, "get auto-login credential", req)
	var res *Result
	if err == nil {
		res, err = b.readAutoLogin(ctx, c)
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *Broker) readAutoLogin(ctx context.Context, c *call) (*Result, error) {
	if b.autoLogin == nil {
		return nil, c.fail(providers.FailedPrecondition, nil, "auto-login is not configured (add an autologin section to the configuration)")
	}
	cand, err := b.autoLoginCandidate(c.req.Username)
	if err != nil {
		return nil, c.fail(providers.InvalidArgument, err, "%s", err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	c.tried = append(c.tried, cand)
	s, err := b.autoLogin.provider.Provider.Get(ctx, cand.ref(c.reason(), c.req.Fresh))
	if code := providers.CodeOf(err); code != providers.OK {
		return nil, c.fail(code, err, "%s", reasonFor(code, err))
	}
	return b.serve(c, cand, s, b.autoLogin.template)
}

// lookupLocker returns the locker a request names, or the error for an
// unknown one (the caller was allowed to use that name, so it may know).
func (b *Broker) lookupLocker(c *call) (*locker, error) {
	if c.req.Locker == "" {
		return nil, c.fail(providers.InvalidArgument, nil, "locker is required")
	}
	lk, ok := b.lockers[c.req.Locker]
	if !ok {
		return nil, c.fail(providers.FailedPrecondition, nil, "unknown locker %s (see ListLockers for the configured ones)", naming.Quote(c.req.Locker))
	}
	if err := checkNames(c.req.Credential, c.req.Username); err != nil {
		return nil, c.fail(providers.InvalidArgument, err, "%s", err)
	}
	return lk, nil
}

func (b *Broker) readLocker(ctx context.Context, c *call) (*Result, error) {
	lk, err := b.lookupLocker(c)
	if err != nil {
		return nil, err
	}
	return b.walk(ctx, c, lk, lk.template, func(pi int) ([]Candidate, error) {
		return placeCandidates(lk, pi, c.req.Credential, c.req.Username)
	})
}

// walk reads a locker's places in order: in each, the candidates that
// cands gives, falling back to the next only on NotFound; a place that
// fails with a code that lets the next answer (see failover) hands over to
// the next place. tmpl, when set, builds the login name.
func (b *Broker) walk(ctx context.Context, c *call, lk *locker, tmpl *naming.Template, cands func(place int) ([]Candidate, error)) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var last error
	for pi := range lk.places {
		cs, err := cands(pi)
		if err != nil {
			return nil, c.fail(providers.InvalidArgument, err, "%s", err)
		}
		p := lk.places[pi].provider.Provider
		var code providers.Code
		for i, cand := range cs {
			c.tried = append(c.tried, cand)
			var s *providers.Secret
			s, last = p.Get(ctx, cand.ref(c.reason(), c.req.Fresh))
			code = providers.CodeOf(last)
			if code == providers.OK {
				return b.serve(c, cand, s, tmpl)
			}
			if code == providers.NotFound && i+1 < len(cs) {
				continue
			}
			break
		}
		if pi+1 < len(lk.places) && ctx.Err() == nil && failover(code, lk.FailoverOnNotFound) {
			b.log.LogAttrs(ctx, slog.LevelDebug, "failing over", slog.String("locker", lk.Name), slog.String("from", lk.places[pi].Provider), slog.String("code", code.String()))
			continue
		}
		return nil, c.fail(code, last, "%s", reasonFor(code, last))
	}
	return nil, c.fail(providers.Internal, last, "no place answered")
}

// failover reports whether a place's failure lets the next place answer.
func failover(code providers.Code, onNotFound bool) bool {
	switch code {
	case providers.Unavailable, providers.ResourceExhausted, providers.DeadlineExceeded:
		return true
	case providers.NotFound:
		return onNotFound
	}
	return false
}

// serve turns a secret read for candidate cand into the result: the login
// name from the template, only the attributes asked for.
func (b *Broker) serve(c *call, cand Candidate, s *providers.Secret, tmpl *naming.Template) (*Result, error) {
	if s == nil {
		return nil, c.fail(providers.Internal, nil, "the provider returned no secret")
	}
	c.served, c.stale = &cand, s.Stale
	res := &Result{Secret: s, Served: cand, Tried: slices.Clone(c.tried), Stale: s.Stale}
	if tmpl != nil {
		login, err := tmpl.Execute(s.Attributes)
		if err != nil {
			code := providers.FailedPrecondition
			if !errors.Is(err, naming.ErrMissingField) {
				code = providers.Internal
			}
			return nil, c.fail(code, err, "the secret does not fit the username template %s: %s", tmpl, err)
		}
		res.LoginName = login
	} else if cand.Scope == ScopeAutoLogin {
		res.LoginName = s.Attributes["username"]
	}
	if len(c.req.Attributes) > 0 {
		kept := make(map[string]string, len(c.req.Attributes))
		for _, k := range c.req.Attributes {
			v, ok := s.Attributes[k]
			if !ok {
				return nil, c.fail(providers.NotFound, nil, "the credential has no attribute %s", naming.Quote(k))
			}
			kept[k] = v
		}
		filtered := *s
		filtered.Attributes = kept
		res.Secret = &filtered
	}
	return res, nil
}
