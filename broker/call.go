package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secretbroker/secretbroker/auth"
	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// call is one request on its way through the broker: who asks, what was
// decided, what was tried. It becomes the audit entry at the end.
type call struct {
	op        auth.Operation
	verb      string // "get credential", for messages
	subject   string // what was asked, for messages; "" means from req
	req       Request
	principal auth.Principal
	purpose   string
	start     time.Time
	decision  auth.Decision
	decided   bool
	tried     []Candidate
	served    *Candidate
	stale     bool
	why       string // the vault's Reason, built once
}

// ask is what a request asks, as begin checks it.
type ask struct {
	op   auth.Operation
	verb string // "get credential", for messages
	req  Request
	// action is what the policy decides; nil derives it from op and req.
	action *auth.Action
	// subject names what was asked in messages; "" derives it from req.
	subject string
	// credential names req.Credential in validation messages; "" is
	// "credential".
	credential string
}

// begin authenticates (from the context), validates and authorizes a
// request, in that order, before any name is computed. A nil error means
// the request may go on.
func (b *Broker) begin(ctx context.Context, op auth.Operation, verb string, req Request) (*call, error) {
	return b.start(ctx, ask{op: op, verb: verb, req: req})
}

// start is begin for requests that say their action and words themselves
// (a CCP object read).
func (b *Broker) start(ctx context.Context, q ask) (*call, error) {
	c := &call{op: q.op, verb: q.verb, req: q.req, subject: q.subject, start: b.now(), purpose: auth.PurposeFromContext(ctx)}
	p, ok := auth.FromContext(ctx)
	if !ok {
		return c, c.fail(providers.PermissionDenied, nil, "no authenticated caller")
	}
	c.principal = p
	label := q.credential
	if label == "" {
		label = "credential"
	}
	if err := q.req.validate(label); err != nil {
		return c, c.fail(providers.InvalidArgument, err, "%s", err)
	}
	a := actionOf(q.op, q.req)
	if q.action != nil {
		a = *q.action
	}
	c.decision = b.authz.Authorize(ctx, p, a)
	c.decided = true
	switch {
	case c.decision.Limited:
		e := c.fail(providers.ResourceExhausted, nil, "rate limit exceeded for %s; retry after %s", naming.Quote(p.ID), c.decision.RetryAfter.Round(time.Millisecond))
		e.RetryAfter = c.decision.RetryAfter
		return c, e
	case !c.decision.Allowed:
		return c, b.denied(c, p, a)
	}
	return c, nil
}

// actionOf is the action a request asks the policy for.
func actionOf(op auth.Operation, req Request) auth.Action {
	a := auth.Action{Op: op, Locker: req.Locker, Username: req.Username}
	if req.AutoLogin {
		a.Locker = ""
		if op != auth.OpAutoLogin {
			a.Locker = auth.AutoLoginLocker
		}
	}
	return a
}

// denied words a refusal. To a caller that may not use a locker at all,
// "denied" reads exactly like "does not exist".
func (b *Broker) denied(c *call, p auth.Principal, a auth.Action) *Error {
	if a.Locker != "" && !b.authz.Visible(p, a.Locker) {
		return c.fail(providers.PermissionDenied, nil, "locker %s does not exist or is not granted to you", naming.Quote(a.Locker))
	}
	if a.Username != "" {
		return c.fail(providers.PermissionDenied, nil, "%s is not granted to %q for user %s", a.Op, p.ID, naming.Quote(a.Username))
	}
	return c.fail(providers.PermissionDenied, nil, "%s is not granted to %q", a.Op, p.ID)
}

// fail returns the request's error with code and a caller-safe reason.
func (c *call) fail(code providers.Code, err error, reason string, args ...any) *Error {
	sub := c.subject
	if sub == "" {
		sub = subject(c.req)
	}
	e := newError(code, c.verb, sub, err, reason, args...)
	if len(c.tried) > 0 {
		e.Tried = append([]Candidate(nil), c.tried...)
	}
	return e
}

// reason is what a vault that keeps its own audit (CyberArk's Reason) is
// told: the authenticated caller and its stated purpose.
func (c *call) reason() string {
	if c.why == "" {
		c.why = "secretbroker for " + c.principal.ID
		if c.purpose != "" {
			c.why += ": " + c.purpose
		}
	}
	return c.why
}

func subject(req Request) string {
	if req.AutoLogin {
		return fmt.Sprintf("for user %s", naming.Quote(req.Username))
	}
	if req.Locker == "" && req.Credential == "" {
		return ""
	}
	s := fmt.Sprintf("%s in locker %s", naming.Quote(req.Credential), naming.Quote(req.Locker))
	if req.Username != "" {
		s += fmt.Sprintf(" for user %s", naming.Quote(req.Username))
	}
	return s
}

// end records the request and tells the observer; it returns err, or the
// audit failure that fails the request closed.
func (b *Broker) end(c *call, err error) error {
	code := providers.OK
	if err != nil {
		code = providers.CodeOf(err)
		var be *Error
		if errors.As(err, &be) {
			code = be.Code
		}
	}
	elapsed := b.now().Sub(c.start)
	e := b.entry(c, code, err, elapsed)
	if aerr := b.auditor.Write(e); aerr != nil {
		if b.observer != nil {
			b.observer.AuditFailed()
		}
		b.log.Error("audit entry not written", "op", c.op.String(), "error", aerr)
		if !b.failOpen && err == nil {
			err = c.fail(providers.Unavailable, aerr, "the audit trail cannot be written, so the request is refused")
			code = providers.Unavailable
		}
	}
	if b.observer != nil {
		b.observer.Request(c.op, code, e.Decision, elapsed)
	}
	return err
}
