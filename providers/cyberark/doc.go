// Package cyberark reads credentials from CyberArk through the Central
// Credential Provider (CCP) REST web service, the read-only interface that
// CyberArk offers to applications identified by an AppID:
//
//	GET https://<host>/AIMWebService/api/Accounts?AppID=..&Safe=..&Folder=..&Object=..&Reason=..
//
// A [Provider] maps a [providers.Ref] to that request: Ref.Location is the
// Safe, Ref.Name the object name (already encoded by the broker's naming
// package, sent as is) and Ref.Reason CCP's Reason parameter, so that
// CyberArk's own audit shows who asked and why. The answer's Content,
// UserName, LogonDomain and Address become the attributes password,
// username, domain and address; every other account property is kept under
// its own CCP name (PolicyID, Name, Folder, DeviceType, ...).
//
// The provider is read-only: CCP cannot store passwords, so Writable is
// false and Put and Delete fail with FailedPrecondition without a request.
//
// Every error is classified where it arises: CCP's ErrorCode (see
// errors.go), else its HTTP status (429 ResourceExhausted, with the
// Retry-After header when one is sent), and transport failures through
// providers.TransportCode. Check asks for the object
// "SecretBrokerHealthCheck" in Config.CheckSafe and takes CCP's APPAP004E
// (not found) for healthy: CCP only answers it after it has authenticated
// the AppID and reached the Vault, and the request reads no served
// password.
//
// While CyberArk changes a password (PasswordChangeInProcess true, or
// APPAP282E), Get retries as Config.MaxAttempts and Config.Backoff say.
// When it gives up it fails with Unavailable, unless
// Config.ServeDuringChange is set and CCP's last answer carried the password: that password is then returned
// with Secret.Rotating set, so that no cache keeps it as current.
//
// Sources for the protocol (checked while writing this package; CyberArk
// publishes no Go SDK):
//   - CyberArk PAM Self-Hosted documentation, "Call the Web Service using
//     REST" / "The GetPassword Web Service": URL, query parameters (AppID,
//     Safe, Folder, Object, Reason, ConnectionTimeout, Query, QueryFormat
//     Exact|Regexp, FailRequestOnPasswordChange), the result object (Content,
//     UserName, Address, PasswordChangeInProcess, "only the currently
//     defined account properties will be returned") and the return-code
//     table quoted in errors.go.
//   - CyberArk's "Application Provider Messages" reference, as summarised
//     by public integrations, for the codes that table does not list; those
//     are marked "secondary source" in errors.go.
package cyberark
