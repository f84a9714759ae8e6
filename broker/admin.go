package broker

import (
	"context"
	"sort"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/providers"
)

// Resolve returns the secrets a request would try, in order (every place of
// the locker), without reading any of them. Secret names are information,
// so it is authorized like a read (operation resolve).
func (b *Broker) Resolve(ctx context.Context, req Request) ([]Candidate, error) {
	c, err := b.begin(ctx, auth.OpResolve, "resolve", req)
	var out []Candidate
	if err == nil {
		out, err = b.resolve(c)
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (b *Broker) resolve(c *call) ([]Candidate, error) {
	if c.req.AutoLogin {
		if c.req.Locker != "" || c.req.Credential != "" {
			return nil, c.fail(providers.InvalidArgument, nil, "an auto-login request names a username only, not a locker or credential")
		}
		if b.autoLogin == nil {
			return nil, c.fail(providers.FailedPrecondition, nil, "auto-login is not configured (add an autologin section to the configuration)")
		}
		cand, err := b.autoLoginCandidate(c.req.Username)
		if err != nil {
			return nil, c.fail(providers.InvalidArgument, err, "%s", err)
		}
		return []Candidate{cand}, nil
	}
	lk, err := b.lookupLocker(c)
	if err != nil {
		return nil, err
	}
	var out []Candidate
	for pi := range lk.places {
		cands, err := placeCandidates(lk, pi, c.req.Credential, c.req.Username)
		if err != nil {
			return nil, c.fail(providers.InvalidArgument, err, "%s", err)
		}
		out = append(out, cands...)
	}
	return out, nil
}

// Lockers lists the lockers the caller may use, by name.
func (b *Broker) Lockers(ctx context.Context) ([]LockerInfo, error) {
	c, err := b.begin(ctx, auth.OpList, "list lockers", Request{})
	var out []LockerInfo
	if err == nil {
		for _, l := range b.lockers {
			if b.authz.Visible(c.principal, l.Name) {
				out = append(out, b.lockerInfo(l))
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return out, nil
}

// Presence is whether one candidate secret exists, as Check reports it.
type Presence struct {
	// Candidate is the secret asked about.
	Candidate Candidate
	// Code is OK when it exists, NotFound when it does not, or the error
	// that kept the broker from knowing (PermissionDenied: unreadable).
	Code providers.Code
	// Reason is a caller-safe explanation when Code is not OK.
	Reason string
}

// Check reports, for each secret a request would try (every candidate of
// every place, or the auto-login name), whether it exists, without ever
// returning a value (operation check: preflight).
func (b *Broker) Check(ctx context.Context, req Request) ([]Presence, error) {
	c, err := b.begin(ctx, auth.OpCheck, "check", req)
	var out []Presence
	if err == nil {
		var cands []Candidate
		if cands, err = b.resolve(c); err == nil {
			ctx, cancel := context.WithTimeout(ctx, b.timeout)
			defer cancel()
			for _, cand := range cands {
				p := b.providers[cand.Provider].Provider
				_, gerr := p.Get(ctx, cand.ref(c.reason(), c.req.Fresh))
				code := providers.CodeOf(gerr)
				pr := Presence{Candidate: cand, Code: code}
				if code != providers.OK {
					pr.Reason = reasonFor(code, gerr)
				}
				out = append(out, pr)
			}
			c.tried = cands
		}
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return out, nil
}

// InvalidateRequest says which cached secrets to drop: every one (All), a
// locker's, a credential's (with its user-defined variants), or a user's
// auto-login credential.
type InvalidateRequest struct {
	// All drops everything cached.
	All bool
	// Request names the locker (and credential and username), or the
	// auto-login user.
	Request
}

// Invalidate drops cached secrets (operation admin) and returns how many
// entries were dropped.
func (b *Broker) Invalidate(ctx context.Context, r InvalidateRequest) (int, error) {
	req := r.Request
	if r.All {
		req = Request{}
	}
	c, err := b.begin(ctx, auth.OpAdmin, "invalidate cache", req)
	n := 0
	if err == nil {
		n, err = b.invalidate(c, r.All)
	}
	if err = b.end(c, err); err != nil {
		return 0, err
	}
	return n, nil
}

func (b *Broker) invalidate(c *call, all bool) (int, error) {
	n := 0
	switch {
	case all:
		for _, p := range b.providers {
			if p.Cache != nil {
				n += p.Cache.InvalidateAll()
			}
		}
	case c.req.AutoLogin:
		cands, err := b.resolve(c)
		if err != nil {
			return 0, err
		}
		if inv := b.providers[cands[0].Provider].Cache; inv != nil {
			n += inv.Invalidate(cands[0].Location, cands[0].Name)
		}
	case c.req.Credential == "":
		lk, ok := b.lockers[c.req.Locker]
		if !ok {
			return 0, c.fail(providers.FailedPrecondition, nil, "unknown locker")
		}
		for _, pl := range lk.places {
			if pl.provider.Cache == nil {
				continue
			}
			prefix := ""
			if pl.Prefix != "" {
				prefix = pl.provider.Scheme.Encode(pl.Prefix + "_")
			}
			n += pl.provider.Cache.Invalidate(pl.Safe, prefix)
		}
	default:
		cands, err := b.resolve(c)
		if err != nil {
			return 0, err
		}
		for _, cand := range cands {
			if inv := b.providers[cand.Provider].Cache; inv != nil {
				n += inv.Invalidate(cand.Location, cand.Name)
			}
		}
	}
	return n, nil
}

// AuthorizeAdmin checks (and audits) that the caller may do an admin action
// that happens outside the broker, such as reloading the configuration.
func (b *Broker) AuthorizeAdmin(ctx context.Context, what string) error {
	c, err := b.begin(ctx, auth.OpAdmin, what, Request{})
	return b.end(c, err)
}
