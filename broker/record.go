package broker

import (
	"errors"
	"time"

	"github.com/secretbroker/secretbroker/audit"
	"github.com/secretbroker/secretbroker/providers"
)

// entry turns a finished call into its audit entry: who (authenticated),
// what, which names were tried and which served, the decision and the
// outcome. It holds names and codes, never a value.
func (b *Broker) entry(c *call, code providers.Code, err error, elapsed time.Duration) *audit.Entry {
	e := &audit.Entry{
		Time:       c.start,
		Identity:   c.principal.ID,
		AuthMethod: string(c.principal.Method),
		Purpose:    c.purpose,
		Operation:  c.op.String(),
		Locker:     c.req.Locker,
		Credential: c.req.Credential,
		Username:   c.req.Username,
		Code:       code.String(),
		LatencyMS:  float64(elapsed.Microseconds()) / 1000,
		Stale:      c.stale,
	}
	if c.req.Fresh {
		e.Cache = "bypass"
	}
	switch {
	case !c.decided:
		e.Decision = "none"
	case c.decision.Limited:
		e.Decision, e.Rule = "limited", c.decision.Rule
	case c.decision.Allowed:
		e.Decision, e.Rule = "allowed", c.decision.Rule
	default:
		e.Decision, e.Rule = "denied", c.decision.Rule
	}
	for _, t := range c.tried {
		e.Tried = append(e.Tried, t.Scope.String()+" "+t.Name+" @"+t.Provider)
	}
	if c.served != nil {
		e.Served, e.Provider, e.Scope, e.Place = c.served.Name, c.served.Provider, c.served.Scope.String(), c.served.Place
	}
	var be *Error
	if err != nil && errors.As(err, &be) {
		e.Error = be.Message()
	}
	return e
}
