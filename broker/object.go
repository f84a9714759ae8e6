package broker

import (
	"context"
	"fmt"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// ObjectRequest names a secret the way a CyberArk CCP client does: a locker
// (the Safe it asked for) and the object's logical name as a whole, such as
// `glaccess_ABCD\RPA.user123`, already decoded from CyberArk's encoding by
// the transport. The broker does not split it into credential and username
// and does not fall back from user-defined to system credentials: the
// object is one secret.
type ObjectRequest struct {
	// Locker is the locker name.
	Locker string
	// Object is the logical object name.
	Object string
	// Attributes, when not empty, keeps only these attributes of the
	// secret served.
	Attributes []string
	// Fresh reads from the vault past any cache.
	Fresh bool
}

// GetObject returns the secret req names. In each of the locker's places it
// reads the logical name encoded by the place's own scheme: on a place with
// a prefix, "{prefix}_{object}" (prefix accounting on AWS reads
// accounting_glaccess_ABCD--RPA-2e-user123 for the object
// `glaccess_ABCD\RPA.user123`); on CyberArk, "{object}" in the place's
// Safe. Places fail over as in GetCredential (Unavailable,
// ResourceExhausted, DeadlineExceeded, and NotFound when the locker says
// so). No username template is applied: a CCP client builds the login name
// from the UserName and LogonDomain it receives.
//
// It is authorized as a credential read, auth.Action{Op: OpCredential,
// Locker: req.Locker, Username: req.Object}: the usernames patterns of a
// policy client match the whole object name, so a CCP caller restricted by
// usernames needs patterns such as `*_ABCD\bot-*` (user-defined objects)
// and `glaccess` (system objects). The audit entry records the object as
// the credential, with no username, and each secret tried with scope
// OBJECT.
func (b *Broker) GetObject(ctx context.Context, req ObjectRequest) (*Result, error) {
	c, err := b.start(ctx, ask{op: auth.OpCredential, verb: "get",
		req:        Request{Locker: req.Locker, Credential: req.Object, Attributes: req.Attributes, Fresh: req.Fresh},
		action:     &auth.Action{Op: auth.OpCredential, Locker: req.Locker, Username: req.Object},
		subject:    fmt.Sprintf("object %s in locker %s", naming.Quote(req.Object), naming.Quote(req.Locker)),
		credential: "object"})
	var res *Result
	if err == nil {
		res, err = b.readObject(ctx, c, req.Object)
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *Broker) readObject(ctx context.Context, c *call, object string) (*Result, error) {
	if c.req.Locker == "" {
		return nil, c.fail(providers.InvalidArgument, nil, "locker is required")
	}
	lk, ok := b.lockers[c.req.Locker]
	if !ok {
		return nil, c.fail(providers.FailedPrecondition, nil, "unknown locker %s (see ListLockers for the configured ones)", naming.Quote(c.req.Locker))
	}
	if err := naming.ValidateComponent("object", object); err != nil {
		return nil, c.fail(providers.InvalidArgument, err, "%s", err)
	}
	return b.walk(ctx, c, lk, nil, func(pi int) ([]Candidate, error) {
		cand, err := objectCandidate(lk, pi, object)
		if err != nil {
			return nil, err
		}
		return []Candidate{cand}, nil
	})
}

// objectCandidate computes the name of an object in one place of a locker:
// the logical name "{prefix}_{object}" (or "{object}" on CyberArk, in the
// place's Safe), encoded by the place's scheme.
func objectCandidate(lk *locker, i int, object string) (Candidate, error) {
	pl := lk.places[i]
	scheme := pl.provider.Scheme
	logical := naming.SystemName(pl.Prefix, object)
	name, err := scheme.Name(logical)
	if err != nil {
		return Candidate{}, err
	}
	return Candidate{Scope: ScopeObject, Provider: pl.provider.Name, Kind: scheme.Kind(),
		Locker: lk.Name, Place: i, Location: pl.Safe, Logical: logical, Name: name}, nil
}

// GetAutoLoginObject returns the auto-login credential whose logical name
// is logical: the auto-login format with a username in place (such as
// autologin_john), or a name of the mapping. It turns the name back into
// the username (naming.AutoLogin.Username) and serves it as GetAutoLogin
// does, authorized and audited for that username. A name that no single
// username gives (none, or several sharing one secret) is NotFound, once
// the caller has been authorized for auto-login; it is audited with the
// name as the credential.
func (b *Broker) GetAutoLoginObject(ctx context.Context, logical string, fresh bool) (*Result, error) {
	if b.autoLogin != nil {
		if u, ok := b.autoLogin.names.Username(logical); ok {
			return b.GetAutoLogin(ctx, Request{Username: u, Fresh: fresh})
		}
	}
	c, err := b.start(ctx, ask{op: auth.OpAutoLogin, verb: "get auto-login",
		req:     Request{AutoLogin: true, Credential: logical, Fresh: fresh},
		subject: "object " + naming.Quote(logical), credential: "object"})
	if err == nil {
		if b.autoLogin == nil {
			err = c.fail(providers.FailedPrecondition, nil, "auto-login is not configured (add an autologin section to the configuration)")
		} else {
			err = c.fail(providers.NotFound, nil, "no single Control Room user has this auto-login name (format %s or a name of the mapping)",
				naming.Quote(b.autoLogin.names.Format()))
		}
	}
	return nil, b.end(c, err)
}

// LockerVisible reports whether the caller in ctx may use locker for some
// operation (the Authorizer's Visible, as ListLockers filters). It spends
// no rate limit and records nothing. Transports use it to word a refusal:
// to a caller that may not use a locker at all, a refusal must read like a
// locker that does not exist.
func (b *Broker) LockerVisible(ctx context.Context, locker string) bool {
	p, ok := auth.FromContext(ctx)
	return ok && locker != "" && b.authz.Visible(p, locker)
}
