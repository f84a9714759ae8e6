package broker

import (
	"context"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/providers"
)

// Put stores a credential under the name computed from req (the
// user-defined name when req has a username, else the system one, or the
// auto-login name), in the first place of the locker, and returns where it
// went. The provider must be writable.
func (b *Broker) Put(ctx context.Context, req Request, s *providers.Secret) (*Candidate, error) {
	c, err := b.begin(ctx, auth.OpWrite, "put credential", req)
	var cand *Candidate
	if err == nil {
		if verr := validateSecret(s); verr != nil {
			err = c.fail(providers.InvalidArgument, verr, "%s", verr)
		} else {
			cand, err = b.write(ctx, c, func(ctx context.Context, p providers.Provider, ref providers.Ref) error {
				return p.Put(ctx, ref, s)
			})
		}
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return cand, nil
}

// Delete deletes the credential req names from the first place of its
// locker (or the auto-login place).
func (b *Broker) Delete(ctx context.Context, req Request) (*Candidate, error) {
	c, err := b.begin(ctx, auth.OpWrite, "delete credential", req)
	var cand *Candidate
	if err == nil {
		cand, err = b.write(ctx, c, func(ctx context.Context, p providers.Provider, ref providers.Ref) error {
			return p.Delete(ctx, ref)
		})
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return cand, nil
}

func (b *Broker) write(ctx context.Context, c *call, do func(context.Context, providers.Provider, providers.Ref) error) (*Candidate, error) {
	var cand Candidate
	var p *Provider
	if c.req.AutoLogin {
		if c.req.Locker != "" || c.req.Credential != "" {
			return nil, c.fail(providers.InvalidArgument, nil, "an auto-login request names a username only, not a locker or credential")
		}
		if b.autoLogin == nil {
			return nil, c.fail(providers.FailedPrecondition, nil, "auto-login is not configured (add an autologin section to the configuration)")
		}
		var err error
		if cand, err = b.autoLoginCandidate(c.req.Username); err != nil {
			return nil, c.fail(providers.InvalidArgument, err, "%s", err)
		}
		p = b.autoLogin.provider
	} else {
		lk, err := b.lookupLocker(c)
		if err != nil {
			return nil, err
		}
		cands, err := placeCandidates(lk, 0, c.req.Credential, c.req.Username)
		if err != nil {
			return nil, c.fail(providers.InvalidArgument, err, "%s", err)
		}
		cand, p = cands[0], lk.places[0].provider // user-defined when a username is given, else system
	}
	c.tried = append(c.tried, cand)
	if !p.Provider.Writable() {
		return nil, c.fail(providers.FailedPrecondition, nil,
			"provider %q (%s) is not writable (set writable: true in its configuration, where the kind supports it)", p.Name, p.Scheme.Kind())
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := do(ctx, p.Provider, cand.ref(c.reason(), false)); err != nil {
		code := providers.CodeOf(err)
		return nil, c.fail(code, err, "%s", reasonFor(code, err))
	}
	c.served = &cand
	return &cand, nil
}
