// Package naming turns Control Room lockers, credentials and usernames into the
// names of secrets in external vaults (AWS Secrets Manager, Azure Key Vault,
// HashiCorp Vault, CyberArk and the embedded store), as specified by the
// project's naming contract (NAMING.md).
//
// The package is pure: it performs no I/O and depends only on the standard
// library. Its parts are:
//
//   - logical names: [SystemName], [UserName] and [AutoLogin] build the
//     unencoded name of a secret, for example "accounting_pdf_ABCD\user123";
//   - encoding: a [Scheme] (one per provider instance, built by [NewScheme])
//     encodes a logical name as a whole. Characters of the scheme's raw set pass
//     unchanged, `\` becomes "--" and every other character becomes "-hh-" for
//     each byte of its UTF-8 form, in lowercase hex. [Scheme.Decode] is the
//     inverse, for diagnostics;
//   - checks: [Scheme.Check] rejects an encoded name that the provider cannot
//     hold with a [*RuleError], never truncating silently; [CheckSafe] checks a
//     CyberArk Safe name;
//   - validation: [ValidateUsername] and [ValidateComponent] check input
//     before a name is built;
//   - login names: a [Template] such as `$domain$\$username$` builds the login
//     name of a credential from the fields of the secret.
//
// Every error caused by bad input wraps [ErrInvalid]; a secret that lacks a
// field a [Template] needs gives an error wrapping [ErrMissingField]. Use
// [errors.Is] to classify them and [errors.As] to reach a [*RuleError].
//
// All types are immutable once built and safe for concurrent use.
package naming
