package main

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"google.golang.org/grpc/codes"

	"github.com/secretbroker/secretbroker/naming"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
)

// preflightSchema names the JSON schema of the preflight report.
const preflightSchema = "secretbroker.preflight.v1"

// The status of a check, and of the user-defined and system secrets in it.
const (
	// statusPresent: the user's own credential (or auto-login) exists.
	statusPresent = "present"
	// statusSystem: no user-defined credential, but the locker's system
	// credential exists (the check's status only).
	statusSystem = "system"
	// statusMissing: nothing to serve.
	statusMissing = "missing"
	// statusUnreadable: the vault or the daemon refused or failed.
	statusUnreadable = "unreadable"
)

// The kinds of collision.
const (
	// collisionCase: secret names that differ only in case on a
	// case-insensitive vault.
	collisionCase = "case"
	// collisionSameName: the same secret name for two users.
	collisionSameName = "same_name"
	// collisionNormalization: usernames that differ only in Unicode
	// normalisation (and perhaps whitespace).
	collisionNormalization = "normalization"
	// collisionWhitespace: usernames that differ only in leading or
	// trailing whitespace.
	collisionWhitespace = "whitespace"
)

// flagWhitespace flags a username with leading or trailing whitespace.
const flagWhitespace = "whitespace"

// preflightPair is a locker/credential pair to check for each user.
type preflightPair struct {
	Locker     string `json:"locker"`
	Credential string `json:"credential"`
}

// String returns "locker/credential".
func (p preflightPair) String() string { return p.Locker + "/" + p.Credential }

// preflightInputUser is a username read from -users.
type preflightInputUser struct {
	name string
	// line is where it is first, counting from 1.
	line int
	// duplicates are the lines where it is again.
	duplicates []int
}

// preflightReport is the result of a preflight run: the JSON output.
type preflightReport struct {
	Schema      string               `json:"schema"`
	Daemon      string               `json:"daemon"`
	Time        time.Time            `json:"time"`
	BypassCache bool                 `json:"bypass_cache"`
	AutoLogin   bool                 `json:"autologin"`
	Pairs       []preflightPair      `json:"pairs"`
	Summary     preflightSummary     `json:"summary"`
	Users       []preflightUser      `json:"users"`
	Collisions  []preflightCollision `json:"collisions"`
}

// preflightSummary counts the checks by status, the collisions and the
// flagged users.
type preflightSummary struct {
	Users      int  `json:"users"`
	Checks     int  `json:"checks"`
	Present    int  `json:"present"`
	System     int  `json:"system"`
	Missing    int  `json:"missing"`
	Unreadable int  `json:"unreadable"`
	Collisions int  `json:"collisions"`
	Flagged    int  `json:"flagged_users"`
	OK         bool `json:"ok"`
}

// problems returns "2 missing, 1 unreadable, 1 collision" (the non-zero
// counts of problems), "no problems" when there are none.
func (s preflightSummary) problems() string {
	var parts []string
	add := func(n int, one, many string) {
		if n > 0 {
			parts = append(parts, plural(n, one, many))
		}
	}
	add(s.Missing, "missing", "missing")
	add(s.Unreadable, "unreadable", "unreadable")
	add(s.Collisions, "collision", "collisions")
	add(s.Flagged, "flagged user", "flagged users")
	if len(parts) == 0 {
		return "no problems"
	}
	return strings.Join(parts, ", ")
}

// preflightUser is the result for one user.
type preflightUser struct {
	Username       string `json:"username"`
	Line           int    `json:"line"`
	DuplicateLines []int  `json:"duplicate_lines,omitempty"`
	// Flags lists what is wrong with the username on its own
	// (flagWhitespace).
	Flags     []string        `json:"flags"`
	AutoLogin *preflightCheck `json:"autologin,omitempty"`
	// Credentials has one check per pair, in the order of the pairs.
	Credentials []preflightCheck `json:"credentials"`
}

// preflightCheck is the result of one check: a user's auto-login, or a
// user's credential of a locker.
type preflightCheck struct {
	Locker     string `json:"locker,omitempty"`
	Credential string `json:"credential,omitempty"`
	// Status is statusPresent, statusSystem, statusMissing or
	// statusUnreadable.
	Status string `json:"status"`
	// User and System say whether the user-defined and system secrets
	// exist (present, missing, unreadable), in any of the locker's places;
	// empty for auto-login and when the daemon refused the check.
	User   string `json:"user,omitempty"`
	System string `json:"system,omitempty"`
	// Code and Reason explain an unreadable check.
	Code      string            `json:"code,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Colliding bool              `json:"colliding"`
	Secrets   []preflightSecret `json:"secrets"`
}

// preflightSecret is one secret a check looked at: a candidate of the
// daemon and whether it exists.
type preflightSecret struct {
	Scope        string `json:"scope"`
	Provider     string `json:"provider"`
	ProviderKind string `json:"provider_kind"`
	Safe         string `json:"safe"`
	SecretName   string `json:"secret_name"`
	LogicalName  string `json:"logical_name"`
	Place        int    `json:"place"`
	Mapped       bool   `json:"mapped"`
	Exists       bool   `json:"exists"`
	Code         string `json:"code"`
	Reason       string `json:"reason"`
}

// preflightCollision is a collision between two users.
type preflightCollision struct {
	Kind    string                     `json:"kind"`
	Users   [2]string                  `json:"users"`
	Lines   [2]int                     `json:"lines"`
	Detail  string                     `json:"detail"`
	Secrets []preflightCollidingSecret `json:"secrets"`
}

// preflightCollidingSecret is a pair of secret names, one of each user,
// that name one secret.
type preflightCollidingSecret struct {
	Provider     string    `json:"provider"`
	ProviderKind string    `json:"provider_kind"`
	Safe         string    `json:"safe"`
	Names        [2]string `json:"names"`
}

// readUsersFile reads the usernames in the file path: CSV (first column)
// when csvFormat, otherwise one per line.
func readUsersFile(path string, csvFormat bool) ([]preflightInputUser, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-users: %w", err)
	}
	users, err := parseUsers(path, b, csvFormat)
	if err != nil {
		return nil, fmt.Errorf("-users %w", err)
	}
	return users, nil
}

// parseUsers reads the usernames in b, the contents of the file name. A
// UTF-8 byte order mark is removed; blank lines (and CSV rows with an empty
// first cell) are skipped; a username seen again is kept once, with the
// lines of its duplicates. Text is one username per line, a trailing CR
// removed, nothing else: leading and trailing whitespace stays, to be
// flagged. CSV takes the first cell of each row; a first row whose first
// cell is "username", "user", "user name" or "login" (any case) is a
// header. Usernames must be valid UTF-8.
func parseUsers(name string, b []byte, csvFormat bool) ([]preflightInputUser, error) {
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	var users []preflightInputUser
	seen := map[string]int{}
	add := func(line int, u string) error {
		if strings.TrimSpace(u) == "" {
			return nil
		}
		if !utf8.ValidString(u) {
			return fmt.Errorf("%s:%d: the username is not valid UTF-8 (save the file as UTF-8)", name, line)
		}
		if i, ok := seen[u]; ok {
			users[i].duplicates = append(users[i].duplicates, line)
			return nil
		}
		seen[u] = len(users)
		users = append(users, preflightInputUser{name: u, line: line})
		return nil
	}
	if csvFormat {
		r := csv.NewReader(bytes.NewReader(b))
		r.FieldsPerRecord = -1
		for first := true; ; first = false {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			line, _ := r.FieldPos(0)
			if first && isUserHeader(rec[0]) {
				continue
			}
			if err := add(line, rec[0]); err != nil {
				return nil, err
			}
		}
	} else {
		for i, l := range strings.Split(string(b), "\n") {
			if err := add(i+1, strings.TrimSuffix(l, "\r")); err != nil {
				return nil, err
			}
		}
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no usernames in it", name)
	}
	return users, nil
}

// isUserHeader reports whether cell heads a column of usernames.
func isUserHeader(cell string) bool {
	switch strings.ToLower(strings.TrimSpace(cell)) {
	case "username", "user", "user name", "user_name", "login":
		return true
	}
	return false
}

// parsePairs reads locker/credential pairs, one a line, from b, the
// contents of the file name; blank lines and lines starting with # are
// skipped, surrounding whitespace is ignored.
func parsePairs(name string, b []byte) ([]preflightPair, error) {
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	var pairs []preflightPair
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p, err := parsePair(l)
		if err != nil {
			return nil, fmt.Errorf("-pairs %s:%d: %w", name, i+1, err)
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// parsePair parses "locker/credential" (split at the first '/').
func parsePair(s string) (preflightPair, error) {
	l, c, ok := strings.Cut(s, "/")
	if !ok || l == "" || c == "" {
		return preflightPair{}, fmt.Errorf("%s: want locker/credential, such as finance/erp", quote(s))
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unprintable) {
		return preflightPair{}, fmt.Errorf("%s: control characters or invalid UTF-8", quote(s))
	}
	return preflightPair{Locker: l, Credential: c}, nil
}

// dedupePairs returns pairs without repeats, in order.
func dedupePairs(pairs []preflightPair) []preflightPair {
	out := []preflightPair{}
	for _, p := range pairs {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// userFlags returns what is wrong with the username u on its own.
func userFlags(u string) []string {
	if u != strings.TrimSpace(u) {
		return []string{flagWhitespace}
	}
	return []string{}
}

// secretsOf converts the daemon's answer.
func secretsOf(ps []*pb.Presence) []preflightSecret {
	out := make([]preflightSecret, 0, len(ps))
	for _, p := range ps {
		c, src := p.GetCandidate(), p.GetCandidate().GetSource()
		out = append(out, preflightSecret{
			Scope: scopeName(c.GetScope()), Provider: src.GetProvider(), ProviderKind: src.GetProviderKind(),
			Safe: src.GetLocation(), SecretName: src.GetSecretName(), LogicalName: src.GetLogicalName(),
			Place: int(src.GetPlace()), Mapped: c.GetMapped(),
			Exists: p.GetExists(), Code: p.GetCode(), Reason: p.GetReason(),
		})
	}
	return out
}

// presenceOf returns whether one of the secrets of scope ("" for any)
// exists (present), else whether one failed otherwise than NotFound
// (unreadable, with the first such code and reason), else missing.
func presenceOf(secrets []preflightSecret, scope string) (state, code, reason string) {
	state = statusMissing
	for _, s := range secrets {
		switch {
		case scope != "" && s.Scope != scope:
		case s.Exists:
			return statusPresent, "", ""
		case s.Code != "NotFound" && state != statusUnreadable:
			state, code, reason = statusUnreadable, s.Code, s.Reason
		}
	}
	return state, code, reason
}

// checkFromPresence makes the check of pair (nil for auto-login) from the
// daemon's answer. A pair is present when the user-defined credential
// exists in one of the locker's places; unreadable when it does not and a
// place could not say (the daemon never falls back to system on errors);
// "system" when it does not exist but the system credential does; missing
// when neither exists; unreadable when the system credential could not be
// read.
func checkFromPresence(pair *preflightPair, ps []*pb.Presence) preflightCheck {
	c := preflightCheck{Secrets: secretsOf(ps)}
	if pair == nil {
		c.Status, c.Code, c.Reason = presenceOf(c.Secrets, "")
		return c
	}
	c.Locker, c.Credential = pair.Locker, pair.Credential
	var ucode, ureason, scode, sreason string
	c.User, ucode, ureason = presenceOf(c.Secrets, "USER")
	c.System, scode, sreason = presenceOf(c.Secrets, "SYSTEM")
	switch {
	case c.User == statusPresent:
		c.Status = statusPresent
	case c.User == statusUnreadable:
		c.Status, c.Code, c.Reason = statusUnreadable, ucode, ureason
	case c.System == statusPresent:
		c.Status = statusSystem
	case c.System == statusUnreadable:
		c.Status, c.Code, c.Reason = statusUnreadable, scode, sreason
	default:
		c.Status = statusMissing
	}
	return c
}

// checkFromError makes the check of pair (nil for auto-login) that the
// daemon refused with err: missing for NotFound, else unreadable with the
// gRPC code and message.
func checkFromError(pair *preflightPair, err error) preflightCheck {
	c := preflightCheck{Status: statusUnreadable, Secrets: []preflightSecret{}}
	if pair != nil {
		c.Locker, c.Credential = pair.Locker, pair.Credential
	}
	var re *rpcError
	if !errors.As(err, &re) {
		c.Code, c.Reason = "Unknown", err.Error()
		return c
	}
	if re.st.Code() == codes.NotFound {
		c.Status = statusMissing
		return c
	}
	c.Code, c.Reason = re.st.Code().String(), re.st.Message()
	return c
}

// newPreflightReport assembles the report of users, checked at addr at
// time now: collisions and summary.
func newPreflightReport(addr string, now time.Time, pairs []preflightPair, autoLogin, bypassCache bool, users []preflightUser) *preflightReport {
	rep := &preflightReport{
		Schema: preflightSchema, Daemon: addr, Time: now.UTC().Truncate(time.Second),
		BypassCache: bypassCache, AutoLogin: autoLogin, Pairs: pairs, Users: users,
	}
	if rep.Pairs == nil {
		rep.Pairs = []preflightPair{}
	}
	rep.Collisions = findCollisions(rep.Users)
	rep.Summary = summarize(rep)
	return rep
}

// summarize counts the checks, collisions and flagged users of rep.
func summarize(rep *preflightReport) preflightSummary {
	s := preflightSummary{Users: len(rep.Users), Collisions: len(rep.Collisions)}
	count := func(c *preflightCheck) {
		s.Checks++
		switch c.Status {
		case statusPresent:
			s.Present++
		case statusSystem:
			s.System++
		case statusMissing:
			s.Missing++
		default:
			s.Unreadable++
		}
	}
	for i := range rep.Users {
		u := &rep.Users[i]
		if len(u.Flags) > 0 {
			s.Flagged++
		}
		if u.AutoLogin != nil {
			count(u.AutoLogin)
		}
		for j := range u.Credentials {
			count(&u.Credentials[j])
		}
	}
	s.OK = s.Missing == 0 && s.Unreadable == 0 && s.Collisions == 0 && s.Flagged == 0
	return s
}

// findCollisions returns the collisions between users, ordered by the
// lines of the users, and marks the checks whose secrets collide:
//
//   - usernames that differ only in leading or trailing whitespace, or only
//     in Unicode normalisation (NFC against NFD), or in both;
//   - secret names of two users (user-defined or auto-login; system
//     secrets are shared by design) in the same provider and Safe that are
//     equal, or, on a case-insensitive vault (Azure, CyberArk), differ
//     only in case.
func findCollisions(users []preflightUser) []preflightCollision {
	out := []preflightCollision{}

	// Usernames.
	groups := map[string][]int{}
	var keys []string
	for i, u := range users {
		k := norm.NFC.String(strings.TrimSpace(u.Username))
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range keys {
		g := groups[k]
		for x := 0; x < len(g); x++ {
			for y := x + 1; y < len(g); y++ {
				out = append(out, usernameCollision(&users[g[x]], &users[g[y]]))
			}
		}
	}

	// Secret names.
	type entry struct {
		user   int
		check  *preflightCheck
		secret *preflightSecret
	}
	insensitive := map[string]bool{}
	for _, k := range naming.Kinds() {
		if s, err := naming.NewScheme(k, naming.Options{}); err == nil {
			insensitive[k] = s.CaseInsensitive()
		}
	}
	byName := map[string][]entry{}
	var names []string
	for i := range users {
		u := &users[i]
		checks := make([]*preflightCheck, 0, len(u.Credentials)+1)
		if u.AutoLogin != nil {
			checks = append(checks, u.AutoLogin)
		}
		for j := range u.Credentials {
			checks = append(checks, &u.Credentials[j])
		}
		for _, c := range checks {
			for j := range c.Secrets {
				s := &c.Secrets[j]
				if s.Scope == "SYSTEM" || s.SecretName == "" {
					continue
				}
				name := s.SecretName
				if insensitive[s.ProviderKind] {
					name = strings.ToLower(name)
				}
				k := s.Provider + "\x00" + s.Safe + "\x00" + name
				if _, ok := byName[k]; !ok {
					names = append(names, k)
				}
				byName[k] = append(byName[k], entry{user: i, check: c, secret: s})
			}
		}
	}
	type pairKey struct {
		a, b int
		kind string
	}
	index := map[pairKey]int{}
	for _, k := range names {
		es := byName[k]
		for x := 0; x < len(es); x++ {
			for y := x + 1; y < len(es); y++ {
				ex, ey := es[x], es[y]
				if ex.user == ey.user {
					continue
				}
				if ex.user > ey.user {
					ex, ey = ey, ex
				}
				ex.check.Colliding, ey.check.Colliding = true, true
				kind := collisionSameName
				if ex.secret.SecretName != ey.secret.SecretName {
					kind = collisionCase
				}
				pk := pairKey{ex.user, ey.user, kind}
				i, ok := index[pk]
				if !ok {
					i = len(out)
					index[pk] = i
					out = append(out, secretCollision(kind, &users[ex.user], &users[ey.user]))
				}
				cs := preflightCollidingSecret{Provider: ex.secret.Provider, ProviderKind: ex.secret.ProviderKind,
					Safe: ex.secret.Safe, Names: [2]string{ex.secret.SecretName, ey.secret.SecretName}}
				if !slices.Contains(out[i].Secrets, cs) {
					out[i].Secrets = append(out[i].Secrets, cs)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(x, y preflightCollision) int {
		return cmp.Or(cmp.Compare(x.Lines[0], y.Lines[0]), cmp.Compare(x.Lines[1], y.Lines[1]), cmp.Compare(x.Kind, y.Kind))
	})
	return out
}

// usernameCollision describes two usernames that are equal once trimmed and
// normalised to NFC.
func usernameCollision(a, b *preflightUser) preflightCollision {
	c := preflightCollision{Users: [2]string{a.Username, b.Username}, Lines: [2]int{a.Line, b.Line},
		Secrets: []preflightCollidingSecret{}}
	tail := ": they encode to different secret names, so at most one of them is the Control Room user's"
	switch {
	case strings.TrimSpace(a.Username) == strings.TrimSpace(b.Username):
		c.Kind = collisionWhitespace
		c.Detail = "the usernames differ only in leading or trailing whitespace" + tail
	case norm.NFC.String(a.Username) == norm.NFC.String(b.Username):
		c.Kind = collisionNormalization
		c.Detail = fmt.Sprintf("the usernames differ only in Unicode normalisation (line %d is %s; line %d is %s)",
			a.Line, normalForm(a.Username), b.Line, normalForm(b.Username)) + tail
	default:
		c.Kind = collisionNormalization
		c.Detail = fmt.Sprintf("the usernames differ only in Unicode normalisation (line %d is %s; line %d is %s) and in leading or trailing whitespace",
			a.Line, normalForm(a.Username), b.Line, normalForm(b.Username)) + tail
	}
	return c
}

// normalForm names the Unicode normalisation form of s: "NFC, composed",
// "NFD, decomposed", "neither NFC nor NFD".
func normalForm(s string) string {
	switch {
	case norm.NFC.IsNormalString(s):
		return "NFC, composed"
	case norm.NFD.IsNormalString(s):
		return "NFD, decomposed"
	}
	return "neither NFC nor NFD"
}

// secretCollision describes two users whose secret names name one secret.
func secretCollision(kind string, a, b *preflightUser) preflightCollision {
	c := preflightCollision{Kind: kind, Users: [2]string{a.Username, b.Username}, Lines: [2]int{a.Line, b.Line},
		Secrets: []preflightCollidingSecret{}}
	if kind == collisionCase {
		c.Detail = "their secret names differ only in case on a case-insensitive vault: both users read the same secret"
	} else {
		c.Detail = "both users map to the same secret name: one user's credential serves the other"
	}
	return c
}

// displayUser returns u as reports show it: as it is, or, when it would
// mislead the eye (leading or trailing whitespace, not NFC, control
// characters, not ASCII-printable in a way that matters), Go-quoted with
// non-ASCII characters escaped, so that "Zoe\u0308" and "Zo\u00eb" differ.
func displayUser(u string) string {
	if u != strings.TrimSpace(u) || !norm.NFC.IsNormalString(u) || !utf8.ValidString(u) || strings.ContainsFunc(u, unprintable) {
		return strconv.QuoteToASCII(u)
	}
	return u
}
