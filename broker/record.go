package broker

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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
		Locker:     clip(c.req.Locker),
		Credential: clip(c.req.Credential),
		Username:   clip(c.req.Username),
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

// clip keeps an audit field short whatever a caller sent: a field over 256
// bytes (which validation refused) is cut to its first 64 bytes and marked
// with its length.
func clip(s string) string {
	if len(s) <= 256 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", strings.ToValidUTF8(s[:cut], "?"), len(s))
}
