// Package azure is the secretbroker provider for Azure Key Vault secrets.
//
// A Provider reads the secrets of one vault through the Azure SDK for Go
// (azsecrets, authenticated by azidentity). The broker hands it names that
// the naming package has already encoded for Key Vault (at most 127
// characters of 0-9, a-z, A-Z and '-'); the provider never re-encodes them.
//
// # Secret shapes
//
// A Key Vault secret holds one string value. The provider turns it into
// attributes in one of two ways:
//
//   - A JSON object (content type "application/json", or no content type and
//     a value that parses as a JSON object): every member becomes an
//     attribute. String members are taken as they are; other members (numbers,
//     booleans, null, arrays, objects) as their compact JSON text. This is
//     the shape Put writes.
//   - Anything else is a plain password: the value becomes the "password"
//     attribute, "username" comes from the tag named by Config.UsernameTag
//     (default "username") and "domain" from the tag "domain", when present.
//
// # Content-type convention
//
// Key Vault's content type is free text. For plain passwords the provider
// also reads the username and domain from it, so a secret can be described
// without tags: the content type is a list of items separated by ';', an
// optional media type first, then key=value parameters, for example
//
//	username=svc-bot
//	text/plain; username=ACME\svc-bot; domain=ACME
//
// Parameter names are compared without regard to case; a value may be
// double-quoted. Tags win over content-type parameters. A non-empty content
// type other than application/json always means a plain value, even if the
// value happens to look like JSON.
//
// # Disabled, expired and not-yet-valid secrets
//
// A secret that is disabled (attributes.enabled false, or the service's 403
// answer with inner code SecretDisabled), expired (exp in the past) or not
// yet valid (nbf in the future) is reported as NotFound with the reason
// "secret is disabled", "secret has expired" or "secret is not yet valid".
//
// # Authentication
//
// Credentials are never written in the configuration: Config.Auth names an
// azidentity credential (DefaultAzureCredential chain, client secret from a
// file or AZURE_CLIENT_SECRET, client certificate from a PEM or PKCS#12
// file, managed identity, workload identity) and the files or environment
// variables it reads. The SDK's Key Vault challenge protocol discovers the
// tenant and the token scope from the vault's 401 answer, and its
// verification that the challenge's resource matches the vault's domain
// stays on.
//
// # Errors and health
//
// Every error is classified where it arises: Key Vault's status and inner
// error codes (404 NotFound, 401/403 PermissionDenied, 429
// ResourceExhausted with the answer's Retry-After, 5xx Unavailable),
// Microsoft Entra's answers to the credential, and transport failures
// through providers.TransportCode. Check asks for a version of the secret
// "secretbroker-health-check" that cannot exist (all zeros) and takes Key
// Vault's 404 for healthy: the token exchange and the vault's access check
// come first, and no value is read.
//
// Package azuretest holds an in-process Key Vault and Microsoft Entra token
// endpoint for tests.
package azure
