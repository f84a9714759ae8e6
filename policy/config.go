package policy

import (
	"fmt"
	"math"
	"strconv"

	"github.com/secretbroker/secretbroker/auth"
)

// Config is the policy block of the configuration file.
type Config struct {
	// DefaultRateLimit is the rate limit of a principal none of whose
	// matching clients has one; nil means no limit.
	DefaultRateLimit *RateLimit `yaml:"default_rate_limit,omitempty"`
	// Clients are the rules, in order; a principal may match several.
	Clients []Client `yaml:"clients"`
}

// Client is one rule: who (Identities) may do what (Operations), on which
// lockers and for which Control Room usernames.
type Client struct {
	// Name labels the rule in the audit: "clients[I] NAME".
	Name string `yaml:"name"`
	// Identities are the principal IDs or aliases the rule applies to,
	// exact or as patterns.
	Identities []string `yaml:"identities"`
	// Operations are the operations granted, by their names in
	// auth.ParseOperation.
	Operations []string `yaml:"operations"`
	// Lockers are the lockers (patterns) the locker-taking operations
	// (credential, resolve, write, check) may use. Omitted means none; ["*"]
	// means all.
	Lockers []string `yaml:"lockers,omitempty"`
	// Usernames are the Control Room usernames (patterns) the client may act
	// for. Omitted (nil) means any username.
	Usernames []string `yaml:"usernames,omitempty"`
	// RateLimit is the rate limit of a principal whose first matching client
	// with a rate limit is this one; nil leaves the decision to later clients
	// and then to Config.DefaultRateLimit.
	RateLimit *RateLimit `yaml:"rate_limit,omitempty"`
}

// RateLimit is a token bucket per principal ID: Burst requests at once, and
// RPS requests per second on average.
type RateLimit struct {
	// RPS is the rate at which the bucket refills, in requests per second.
	RPS float64 `yaml:"rps"`
	// Burst is the size of the bucket.
	Burst int `yaml:"burst"`
}

// FieldError reports a bad field of the policy configuration. New returns one
// for every problem it finds, joined with errors.Join; the configuration
// loader turns Path into the file and line the field came from.
type FieldError struct {
	// Path is the YAML path of the field inside the policy block, such as
	// "clients[1].operations[0]" or "default_rate_limit.rps".
	Path string
	// Problem says what is wrong.
	Problem string
	// Fix says what to write instead.
	Fix string
}

// Error returns "path: problem (fix)".
func (e *FieldError) Error() string {
	s := e.Path + ": " + e.Problem
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

// lockerOps are the operations that name a locker.
const lockerOps = 1<<auth.OpCredential | 1<<auth.OpResolve | 1<<auth.OpWrite | 1<<auth.OpCheck

// userOps are the operations whose actions may carry a Control Room
// username.
const userOps = 1<<auth.OpAutoLogin | lockerOps

// validator collects the problems of a configuration.
type validator struct {
	errs []error
}

func (v *validator) bad(path, problem, fix string) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: problem, Fix: fix})
}

// compile checks cfg and returns its compiled clients and default limit,
// and a *FieldError for every problem found.
func compile(cfg Config) ([]client, *limitSpec, []error) {
	var v validator
	def := v.rateLimit("default_rate_limit", cfg.DefaultRateLimit, "default_rate_limit")
	clients := make([]client, len(cfg.Clients))
	names := make(map[string]int, len(cfg.Clients))
	for i, c := range cfg.Clients {
		at := "clients[" + strconv.Itoa(i) + "]"
		cc := &clients[i]
		cc.rule = at + " " + c.Name
		switch j, dup := names[c.Name]; {
		case c.Name == "":
			v.bad(at+".name", "is required", `name the client, such as "bot-pool-a"; the audit names the rule by it`)
		case dup:
			v.bad(at+".name", fmt.Sprintf("repeats the name of clients[%d]", j), "give every client its own name")
		default:
			if problem := checkGlob(c.Name); problem != "" {
				v.bad(at+".name", problem, `write a plain label such as "bot-pool-a"`)
			}
			names[c.Name] = i
		}

		if len(c.Identities) == 0 {
			v.bad(at+".identities", "is empty, so the client matches no one",
				`list the identities it applies to, such as "spiffe://corp.example/rpa/bot-pool-a"`)
		}
		cc.identities = v.globs(at+".identities", c.Identities,
			`write an identity such as "spiffe://corp.example/rpa/bot-pool-a", or a pattern with '*'`)

		for j, name := range c.Operations {
			op, err := auth.ParseOperation(name)
			if err != nil {
				v.bad(at+".operations["+strconv.Itoa(j)+"]", fmt.Sprintf("%q is not an operation", name),
					"write autologin, credential, resolve, list, write, check or admin")
				continue
			}
			cc.ops |= 1 << op
		}
		if len(c.Operations) == 0 {
			v.bad(at+".operations", "is empty, so the client is granted nothing",
				"list the operations it may use (autologin, credential, resolve, list, write, check, admin), or remove the client")
		}

		cc.lockers = v.globs(at+".lockers", c.Lockers, `write a locker name such as "finance", or a pattern such as "hr-*"`)
		switch {
		case cc.ops&lockerOps != 0 && len(c.Lockers) == 0:
			v.bad(at+".lockers", "is missing, so the client's credential, resolve, write and check operations reach no locker",
				`list the lockers it may use, or ["*"] for all of them`)
		case cc.ops != 0 && cc.ops&lockerOps == 0 && len(c.Lockers) > 0:
			v.bad(at+".lockers", "is set, but none of the client's operations takes a locker",
				"remove lockers, or grant credential, resolve, write or check")
		}

		if c.Usernames != nil {
			cc.usernames = v.globs(at+".usernames", c.Usernames, `write a Control Room username such as "ABCD\bot-7", or a pattern such as "ABCD\bot-*"`)
			switch {
			case len(c.Usernames) == 0:
				v.bad(at+".usernames", "is empty", `remove it to allow any username, or list the usernames the client may act for`)
			case cc.ops != 0 && cc.ops&userOps == 0:
				v.bad(at+".usernames", "is set, but none of the client's operations acts for a username",
					"remove usernames, or grant autologin, credential, resolve, write or check")
			}
		}

		cc.limit = v.rateLimit(at+".rate_limit", c.RateLimit, cc.rule+" rate_limit")
	}
	return clients, def, v.errs
}

// globs checks and compiles the patterns at path.
func (v *validator) globs(path string, patterns []string, fix string) []glob {
	if patterns == nil {
		return nil
	}
	gs := make([]glob, 0, len(patterns))
	for i, p := range patterns {
		if problem := checkGlob(p); problem != "" {
			v.bad(path+"["+strconv.Itoa(i)+"]", problem, fix)
			continue
		}
		gs = append(gs, compileGlob(p))
	}
	return gs
}

// rateLimit checks rl and returns its compiled form, nil for no limit.
func (v *validator) rateLimit(path string, rl *RateLimit, rule string) *limitSpec {
	if rl == nil {
		return nil
	}
	ok := true
	if !(rl.RPS > 0) || math.IsInf(rl.RPS, 0) {
		v.bad(path+".rps", "must be a number of requests per second above 0", "write a rate such as 50, or remove the rate limit for no limit")
		ok = false
	}
	if rl.Burst < 1 {
		v.bad(path+".burst", "must be at least 1", "write how many requests may come at once, such as 100")
		ok = false
	}
	if !ok {
		return nil
	}
	return &limitSpec{rps: rl.RPS, burst: rl.Burst, rule: rule}
}
