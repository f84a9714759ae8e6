// Package ccp is the CyberArk Central Credential Provider (CCP) face of the
// broker: an http.Handler that answers CCP's GetPassword REST call,
//
//	GET /AIMWebService/api/Accounts?AppID=RPA&Safe=finance&Folder=Root&Object=glaccess_ABCD--RPA-2e-user123
//
// the way CCP does, so that a client written for CCP (Automation Anywhere's
// Control Room external key vault, UiPath Orchestrator's "CyberArk CCP"
// credential store, secretbroker's own providers/cyberark) can read the
// broker's lockers unchanged. Like the gRPC server it authenticates and
// translates only; the broker authorizes, names, reads and audits.
//
// # Protocol
//
// Source: CyberArk's documentation of the GetPassword web service ("Call
// the Web Service using REST": URL, query parameters, result, return
// codes). Parameter names are matched without regard to case (AppID,
// appid, AppId); a parameter given twice is refused. The request must come
// over TLS with a client certificate the listener verified; the daemon's
// listener requires one (tls.RequireAndVerifyClientCert).
//
//   - AppID is required (400 AIMWS031E without it). It is a label the
//     caller chooses, not an identity: see Identity below. It may not
//     contain '@' (400 AIMWS030E).
//   - Safe selects what is read: a Safe of Options.Safes reads the locker it
//     maps to, Options.AutoLoginSafe reads auto-login credentials. Safe
//     names are compared without regard to case, as CyberArk does.
//   - Object is required (a search by UserName, Address or other properties
//     alone is refused with 400 AIMWS030E). It is a CyberArk object name in
//     the project's naming (NAMING.md): it is decoded with the CyberArk
//     scheme (glaccess_ABCD--RPA-2e-user123 is the logical name
//     glaccess_ABCD\RPA.user123) and read as a whole with
//     broker.GetObject, each place encoding it with its own scheme (on an
//     AWS place with prefix accounting: accounting_glaccess_ABCD--RPA-2e-user123).
//     An Object that is not in canonical CyberArk encoding is refused (400
//     AIMWS030E), except in the auto-login Safe, where it is taken verbatim
//     (a name of the auto-login mapping, such as svc-login).
//   - Folder is accepted and echoed (default Root): lockers have no folders.
//   - UserName, Address and Database, and any other property in a Query,
//     are further criteria: the object read must have that property, equal
//     without regard to case, or the answer is 404 APPAP004E. Content (the
//     password) cannot be a criterion.
//   - Query ("Safe=finance;Folder=Root;Object=glaccess") replaces all the
//     search parameters above, as in CCP, and is answered exactly like them
//     with QueryFormat Exact (the default). QueryFormat Regexp is refused
//     (400 AIMWS030E): secretbroker answers exact names only.
//   - Reason is recorded in the audit as the caller's purpose
//     (auth.WithPurpose) and passed on to a CyberArk vault behind the
//     broker; control characters become spaces and it is cut to 256
//     characters.
//   - ConnectionTimeout (seconds, 1 to 600) bounds the request.
//   - FailRequestOnPasswordChange=true answers 500 APPAP282E instead of a
//     password that is being rotated; otherwise such a password is served
//     with PasswordChangeInProcess "True".
//   - PolicyID is accepted and ignored.
//
// The answer (200) is a JSON object of strings: Content (the password
// attribute), UserName, Address (empty when the secret has none), Safe and
// Folder as asked, Name (the Object as asked), PasswordChangeInProcess
// ("True" or "False"), LogonDomain (the domain attribute) when the secret
// has one, and every other attribute under its own name (PolicyID,
// CreationMethod and the like only when the secret holds them). An
// attribute spelled like one of those properties without regard to case is
// left out rather than allowed to shadow it, and so is an attribute whose
// value is not UTF-8 text (JSON carries text only; a password that is not
// text is an error).
//
// # Errors
//
// Errors are CCP's: an HTTP status and {"ErrorCode": "...", "ErrorMsg":
// "..."}.
//
//	400 AIMWS031E  AppID is missing.
//	400 AIMWS030E  the query is invalid: a parameter given twice, a malformed
//	               Query, QueryFormat Regexp, no Safe or Object, an Object
//	               not in CyberArk encoding, a bad ConnectionTimeout or
//	               FailRequestOnPasswordChange, or a name the broker refuses.
//	403 APPAP306E  the request has no verified client certificate, or one
//	               without an identity (no SAN, no common name).
//	403 APPAP008E  the policy refuses this object (or this auto-login) to a
//	               caller that may use the locker.
//	404 APPAP004E  no such object; also a Safe that is not configured, and
//	               any refusal (policy, rate limit, bad name) of a locker the
//	               caller may not use at all, with one and the same message,
//	               so that "denied" and "does not exist" look alike to such
//	               a caller (as CCP itself answers APPAP004E when the
//	               application lacks permissions).
//	429 SECBR429E  the caller is over its rate limit (Retry-After is set).
//	500 APPAP282E  the password is being changed and
//	               FailRequestOnPasswordChange=true.
//	503 APPAP007E  the vault behind the broker is unavailable or too slow
//	               (CCP's "Connection to the Vault has failed"), or the
//	               audit trail cannot be written.
//	500 SECBR500E  anything else: the daemon's configuration or a vault's
//	               answer is at fault, not the request.
//
// SECBR codes are secretbroker's own, in CyberArk's shape; CCP has no code
// for these cases. Messages are the broker's caller-safe messages (what was
// asked, the names tried and where, why) once the caller is authorized for
// the locker; before that, only what the caller sent is repeated. No
// message or log line ever holds a secret value.
//
// # Identity
//
// The principal is the verified client certificate, auth.Principal{ID:
// auth.IdentityFromCert(cert), Method: auth.MethodMTLS}, with two aliases:
// "ccp:APPID@ID" (the AppID the caller gave, bound to its certificate) and
// "ccp-app:APPID" (the AppID alone). Policies should name the certificate
// identity, or ccp:APPID@ID; ccp-app:APPID is a label any holder of a
// certificate from the client CA can claim, so grant it only when every
// such holder may have what it grants (a dedicated client CA).
//
// A CCP request is authorized as a credential read whose username is the
// whole logical object name (see broker.GetObject): a policy client that
// restricts usernames must match object names, such as `*_ABCD\bot-*`.
package ccp
