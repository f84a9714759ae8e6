package naming

import "strings"

// Username returns the Control Room username whose auto-login logical name
// is logical: the inverse of [AutoLogin.Logical], the mapping included. It
// is how a caller that names an auto-login secret by its object name (a
// CyberArk CCP client asking the auto-login Safe) is turned back into the
// username that policy and audit speak of.
//
// A username u answers when Logical(u) == logical: u is a key of the
// mapping whose name is logical, or u is not mapped and the format with u
// in place of {username} is logical (u must then pass [ValidateUsername]).
// Matching is exact, case included. ok is false when no username answers,
// and also when several do (two usernames mapped to the same name, or a
// mapped name that is also the format's name for an unmapped username):
// the secret is then shared and the caller cannot be told apart.
//
// The mapping is searched in full on each call (it is not indexed by name).
func (a *AutoLogin) Username(logical string) (username string, ok bool) {
	before, after := "autologin_", ""
	var mapping map[string]string
	if a != nil && a.format != "" {
		before, after, mapping = a.before, a.after, a.mapping
	}
	found := 0
	for u, name := range mapping {
		if name == logical {
			username, found = u, found+1
		}
	}
	if len(logical) > len(before)+len(after) && strings.HasPrefix(logical, before) && strings.HasSuffix(logical, after) {
		u := logical[len(before) : len(logical)-len(after)]
		if _, mapped := mapping[u]; !mapped && ValidateUsername(u) == nil {
			username, found = u, found+1
		}
	}
	if found != 1 {
		return "", false
	}
	return username, true
}
