package broker

import (
	"fmt"

	"github.com/secretbroker/secretbroker/naming"
	"github.com/secretbroker/secretbroker/providers"
)

// Scope says which kind of credential a candidate is.
type Scope int

// The scopes.
const (
	// ScopeUser is a user-defined credential.
	ScopeUser Scope = iota + 1
	// ScopeSystem is a locker's system credential.
	ScopeSystem
	// ScopeAutoLogin is an auto-login credential.
	ScopeAutoLogin
	// ScopeObject is a secret named as a whole by its logical name (a CCP
	// object), neither split into credential and username nor falling back.
	ScopeObject
)

// String returns USER, SYSTEM, AUTO_LOGIN or OBJECT.
func (s Scope) String() string {
	switch s {
	case ScopeUser:
		return "USER"
	case ScopeSystem:
		return "SYSTEM"
	case ScopeAutoLogin:
		return "AUTO_LOGIN"
	case ScopeObject:
		return "OBJECT"
	}
	return "UNSPECIFIED"
}

// Candidate is one secret a request tries: which provider, where, under
// which encoded name.
type Candidate struct {
	// Scope is the kind of credential.
	Scope Scope
	// Provider is the provider instance's name.
	Provider string
	// Kind is the provider kind.
	Kind string
	// Locker is the locker, empty for auto-login.
	Locker string
	// Place is the index of the locker's place (0 is the first).
	Place int
	// Location is the Safe on CyberArk, "" elsewhere.
	Location string
	// Logical is the name before encoding.
	Logical string
	// Name is the encoded name.
	Name string
	// Mapped is true when an auto-login name came from the mapping.
	Mapped bool
}

// Describe returns "SCOPE name in provider P (kind[, safe S])" for messages.
func (c Candidate) Describe() string {
	where := fmt.Sprintf("provider %q (%s", c.Provider, c.Kind)
	if c.Location != "" {
		where += fmt.Sprintf(", safe %q", c.Location)
	}
	return fmt.Sprintf("%s %q in %s)", c.Scope, c.Name, where)
}

func (c Candidate) ref(reason string, fresh bool) providers.Ref {
	return providers.Ref{Location: c.Location, Name: c.Name, Reason: reason, Fresh: fresh}
}

// autoLoginCandidate computes the name of an auto-login credential.
func (b *Broker) autoLoginCandidate(username string) (Candidate, error) {
	al := b.autoLogin
	if err := naming.ValidateUsername(username); err != nil {
		return Candidate{}, err
	}
	logical, _ := al.names.Logical(username)
	name, mapped, err := al.names.Name(al.provider.Scheme, username)
	if err != nil {
		return Candidate{}, err
	}
	return Candidate{Scope: ScopeAutoLogin, Provider: al.provider.Name, Kind: al.provider.Scheme.Kind(),
		Location: al.Safe, Logical: logical, Name: name, Mapped: mapped}, nil
}

// placeCandidates computes the names a locker request tries in one place:
// the user-defined credential when a username is given, then the system one.
func placeCandidates(lk *locker, i int, credential, username string) ([]Candidate, error) {
	pl := lk.places[i]
	scheme := pl.provider.Scheme
	var out []Candidate
	add := func(scope Scope, logical string) error {
		name, err := scheme.Name(logical)
		if err != nil {
			return err
		}
		out = append(out, Candidate{Scope: scope, Provider: pl.provider.Name, Kind: scheme.Kind(),
			Locker: lk.Name, Place: i, Location: pl.Safe, Logical: logical, Name: name})
		return nil
	}
	if username != "" {
		if err := add(ScopeUser, naming.UserName(pl.Prefix, credential, username)); err != nil {
			return nil, err
		}
	}
	if err := add(ScopeSystem, naming.SystemName(pl.Prefix, credential)); err != nil {
		return nil, err
	}
	return out, nil
}

// checkNames validates the credential and username of a locker request.
func checkNames(credential, username string) error {
	if err := naming.ValidateComponent("credential", credential); err != nil {
		return err
	}
	if username != "" {
		return naming.ValidateUsername(username)
	}
	return nil
}
