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
// The provider is read-only: CCP cannot store passwords, so it does not
// implement providers.Writer.
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
