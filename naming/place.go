package naming

// CheckPlace checks where a locker's credentials live in a provider of kind:
// CyberArk lockers are Safes (safe set, prefix empty); every other kind
// uses a name prefix (prefix set, safe empty). needPrefix is false for
// auto-login, which has no prefix. It is the one rule the broker, the
// configuration and the CLI share. The error wraps [ErrInvalid].
func CheckPlace(kind, prefix, safe string, needPrefix bool) error {
	if kind == CyberArk {
		if prefix != "" {
			return invalidf("a CyberArk provider keeps a locker's credentials in a Safe: write safe, not prefix")
		}
		return CheckSafe(safe)
	}
	if safe != "" {
		return invalidf("safe is for CyberArk providers; a provider of kind %s uses a name prefix: remove safe", kind)
	}
	if needPrefix {
		return ValidateComponent("prefix", prefix)
	}
	return nil
}
