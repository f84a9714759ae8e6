// Package policy is secretbroker's access policy: the auth.Authorizer the
// broker asks before it computes a name or calls a vault. It denies by
// default and allows what the configured clients grant:
//
//	policy:
//	  default_rate_limit: {rps: 50, burst: 100}
//	  clients:
//	    - name: control-room
//	      identities: ["spiffe://corp.example/rpa/control-room"]
//	      operations: [autologin, list]
//	      rate_limit: {rps: 500, burst: 1000}
//	    - name: bot-pool-a
//	      identities: ["spiffe://corp.example/rpa/bot-pool-a"]
//	      operations: [credential, resolve, list]
//	      lockers: ["finance", "hr-*"]
//	      usernames: ['ABCD\bot-*']
//
// # Decisions
//
//   - Default deny: a request that no client allows is denied, with the rule
//     "default deny". So is a principal without an ID, an unknown operation,
//     and an operation that takes a locker asked for with no locker.
//   - A principal matches a client when its ID or one of its Aliases matches
//     one of the client's identities. Several clients may match; an action is
//     allowed when any matching client allows it, and the first such client
//     names the rule: "clients[I] NAME", I counting from 0 in the file.
//   - A client allows an action when the operation is among its operations,
//     and, for the operations that take a locker (credential, resolve, write,
//     check), the locker matches one of its lockers (omitted lockers allow
//     none, ["*"] all), and, when the action carries a Control Room username
//     (a user-defined credential, an auto-login), the username matches one of
//     its usernames (omitted usernames allow any). A system credential
//     (no username) needs only the locker. Autologin, list and admin take no
//     locker, and a locker given with them is not looked at.
//   - Visible reports whether a matching client has any locker-taking
//     operation on a matching locker; it spends no rate limit.
//
// # Patterns
//
// Identities, lockers and usernames are patterns: '*' matches any run of
// characters, none included and '/' included; '?' matches exactly one
// character; every other character stands for itself, '\' too (Control Room
// usernames such as ABCD\bot-7 are written as they are). There is no escape,
// so a pattern cannot match only a literal '*' or '?'. Matching is
// case-sensitive. This is not path.Match: "spiffe://corp.example/rpa/*" also
// matches "spiffe://corp.example/rpa/team/bot", and "spiffe://corp.example*"
// matches "spiffe://corp.example.evil". Write identities exactly where you
// can.
//
// # Rate limits
//
// Every principal ID has a token bucket (golang.org/x/time/rate): the
// rate_limit of the first matching client that has one, else
// default_rate_limit, else none. Authorize takes a token before it decides,
// so denied requests spend the limit too, and over the limit it answers
// Limited with RetryAfter, naming the limit as the rule ("clients[I] NAME
// rate_limit" or "default_rate_limit"). Buckets live in a bounded LRU map
// (DefaultMaxTrackedIdentities, WithMaxTrackedIdentities): when it is full
// the bucket used least recently is forgotten, and its principal starts with
// a full one. A Policy's buckets start full, so a reloaded configuration
// (a new Policy) resets them.
package policy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/secretbroker/secretbroker/auth"
)

// RuleDefaultDeny is the Rule of a Decision that no client allowed.
const RuleDefaultDeny = "default deny"

// DefaultMaxTrackedIdentities is how many principal IDs' rate limit buckets
// a Policy keeps unless WithMaxTrackedIdentities says otherwise.
const DefaultMaxTrackedIdentities = 100_000

// Policy is the access policy built from a Config. It implements
// auth.Authorizer and is safe for concurrent use.
type Policy struct {
	clients      []client
	defaultLimit *limitSpec
	now          func() time.Time
	// buckets is nil when no rate limit is configured.
	buckets *lru.Cache[string, *bucket]
}

var _ auth.Authorizer = (*Policy)(nil)

// client is a compiled Client.
type client struct {
	rule       string // "clients[I] NAME"
	identities []glob
	ops        uint16 // bit 1<<op for each operation granted
	lockers    []glob
	usernames  []glob // nil: any username
	limit      *limitSpec
}

// limitSpec is a compiled RateLimit.
type limitSpec struct {
	rps   float64
	burst int
	rule  string // the Rule of a Limited decision
}

// bucket is one principal ID's token bucket and the limit it was set to.
type bucket struct {
	lim  *rate.Limiter
	spec atomic.Pointer[limitSpec]
}

// Option configures New.
type Option func(*options)

type options struct {
	now        func() time.Time
	maxTracked int
}

// WithClock makes the Policy read the time from now instead of time.Now
// (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithMaxTrackedIdentities sets how many principal IDs' rate limit buckets
// the Policy keeps (at least 1); the least recently used is forgotten first.
func WithMaxTrackedIdentities(n int) Option {
	return func(o *options) { o.maxTracked = n }
}

// New checks cfg and returns the Policy it describes. The error joins a
// *FieldError for every problem in cfg (and an error for a bad Option).
func New(cfg Config, opts ...Option) (*Policy, error) {
	o := options{now: time.Now, maxTracked: DefaultMaxTrackedIdentities}
	for _, opt := range opts {
		opt(&o)
	}
	clients, def, errs := compile(cfg)
	if o.now == nil {
		errs = append(errs, errors.New("policy: WithClock needs a clock, not nil"))
	}
	if o.maxTracked < 1 {
		errs = append(errs, fmt.Errorf("policy: WithMaxTrackedIdentities(%d) must keep at least 1", o.maxTracked))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Policy{clients: clients, defaultLimit: def, now: o.now}
	limited := def != nil
	for i := range clients {
		limited = limited || clients[i].limit != nil
	}
	if limited {
		var err error
		if p.buckets, err = lru.New[string, *bucket](o.maxTracked); err != nil {
			return nil, fmt.Errorf("policy: rate limit buckets: %w", err)
		}
	}
	return p, nil
}

// Authorize decides whether p may do a, spending one token of p's rate limit
// first (denied requests spend it too). See the package comment for the
// rules. It implements auth.Authorizer.
func (pol *Policy) Authorize(_ context.Context, p auth.Principal, a auth.Action) auth.Decision {
	if p.ID == "" {
		return auth.Decision{Rule: RuleDefaultDeny}
	}
	allowed := -1
	var spec *limitSpec
	for i := range pol.clients {
		c := &pol.clients[i]
		if !c.matches(p) {
			continue
		}
		if spec == nil {
			spec = c.limit
		}
		if allowed < 0 && c.allows(a) {
			allowed = i
		}
		if allowed >= 0 && spec != nil {
			break // later clients change neither
		}
	}
	if spec == nil {
		spec = pol.defaultLimit
	}
	if spec != nil {
		if wait, ok := pol.take(p.ID, spec); !ok {
			return auth.Decision{Rule: spec.rule, Limited: true, RetryAfter: wait}
		}
	}
	if allowed < 0 {
		return auth.Decision{Rule: RuleDefaultDeny}
	}
	return auth.Decision{Allowed: true, Rule: pol.clients[allowed].rule}
}

// Visible reports whether p may use locker for some operation: whether a
// client matching p grants credential, resolve, write or check on a locker
// pattern that matches locker. It spends no rate limit. It implements
// auth.Authorizer.
func (pol *Policy) Visible(p auth.Principal, locker string) bool {
	if p.ID == "" || locker == "" {
		return false
	}
	for i := range pol.clients {
		c := &pol.clients[i]
		if c.ops&lockerOps != 0 && c.matches(p) && anyMatch(c.lockers, locker) {
			return true
		}
	}
	return false
}

// matches reports whether p's ID or one of its aliases matches one of c's
// identities.
func (c *client) matches(p auth.Principal) bool {
	if anyMatch(c.identities, p.ID) {
		return true
	}
	for _, alias := range p.Aliases {
		if alias != "" && anyMatch(c.identities, alias) {
			return true
		}
	}
	return false
}

// allows reports whether c grants a.
func (c *client) allows(a auth.Action) bool {
	if a.Op <= 0 || a.Op > auth.OpAdmin || c.ops&(1<<a.Op) == 0 {
		return false
	}
	if lockerOps&(1<<a.Op) != 0 && (a.Locker == "" || !anyMatch(c.lockers, a.Locker)) {
		return false
	}
	if a.Username != "" && c.usernames != nil && !anyMatch(c.usernames, a.Username) {
		return false
	}
	return true
}

// anyMatch reports whether s matches one of gs.
func anyMatch(gs []glob, s string) bool {
	for i := range gs {
		if gs[i].match(s) {
			return true
		}
	}
	return false
}

// take spends one token of id's bucket, set to spec. When the bucket is
// empty it spends nothing and returns how long until it holds a token.
func (pol *Policy) take(id string, spec *limitSpec) (time.Duration, bool) {
	now := pol.now()
	b, ok := pol.buckets.Get(id)
	if !ok {
		nb := &bucket{lim: rate.NewLimiter(rate.Limit(spec.rps), spec.burst)}
		nb.spec.Store(spec)
		if prev, found, _ := pol.buckets.PeekOrAdd(id, nb); found {
			b = prev
		} else {
			b = nb
		}
	}
	if old := b.spec.Load(); old != spec && b.spec.CompareAndSwap(old, spec) {
		// The same ID matched other clients (other aliases): keep the
		// tokens, change the rate.
		b.lim.SetLimitAt(now, rate.Limit(spec.rps))
		b.lim.SetBurstAt(now, spec.burst)
	}
	if b.lim.AllowN(now, 1) {
		return 0, true
	}
	wait := math.Ceil((1 - b.lim.TokensAt(now)) / spec.rps * float64(time.Second))
	switch {
	case wait >= math.MaxInt64:
		return time.Duration(math.MaxInt64), false
	case wait < 1:
		return time.Nanosecond, false
	}
	return time.Duration(wait), false
}
