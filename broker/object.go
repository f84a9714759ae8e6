package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
	c, err := b.begin(ctx, auth.OpCredential, "get",
		Request{Locker: req.Locker, Credential: req.Object, Username: req.Object, Attributes: req.Attributes, Fresh: req.Fresh})
	c.req.Username = ""
	c.subject = fmt.Sprintf("object %s in locker %s", naming.Quote(req.Object), naming.Quote(req.Locker))
	reword(c, err, req.Object)
	var res *Result
	if err == nil {
		res, err = b.readObject(ctx, c, req.Object)
	}
	if err = b.end(c, err); err != nil {
		return nil, err
	}
	return res, nil
}

// reword makes an error of begin speak of the object: the call's subject,
// and "object" where validate said "credential".
func reword(c *call, err error, object string) {
	var e *Error
	if !errors.As(err, &e) {
		return
	}
	e.Subject = c.subject
	if e.Code == providers.InvalidArgument && !c.decided {
		if ferr := field("object", object, MaxCredential); ferr != nil {
			e.Reason = ferr.Error()
		}
	}
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
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var last error
	for pi := range lk.places {
		cand, err := objectCandidate(lk, pi, object)
		if err != nil {
			return nil, c.fail(providers.InvalidArgument, err, "%s", err)
		}
		c.tried = append(c.tried, cand)
		var s *providers.Secret
		s, last = lk.places[pi].provider.Provider.Get(ctx, cand.ref(c.reason(), c.req.Fresh))
		code := providers.CodeOf(last)
		if code == providers.OK {
			return b.serve(c, cand, s, nil)
		}
		if pi+1 < len(lk.places) && ctx.Err() == nil && failover(code, lk.FailoverOnNotFound) {
			b.log.LogAttrs(ctx, slog.LevelDebug, "failing over", slog.String("locker", lk.Name), slog.String("from", lk.places[pi].Provider), slog.String("code", code.String()))
			continue
		}
		return nil, c.fail(code, last, "%s", reasonFor(code, last))
	}
	return nil, c.fail(providers.Internal, last, "no place answered")
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
	c, err := b.begin(ctx, auth.OpAutoLogin, "get auto-login", Request{AutoLogin: true, Credential: logical, Fresh: fresh})
	c.subject = "object " + naming.Quote(logical)
	reword(c, err, logical)
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
