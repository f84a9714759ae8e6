// Package hashicorp is the secretbroker provider for HashiCorp Vault's KV
// secrets engine, versions 1 and 2.
//
// A Provider reads (and, when configured writable, writes) one KV mount of
// one Vault server. The secret for Ref.Name lives at
//
//	KV v2: <mount>/data/<path>/<name>
//	KV v1: <mount>/<path>/<name>
//
// where mount and path come from the Config and name is the already encoded
// Ref.Name, always the last path element. The secret's data is its
// attributes; values that are not JSON strings come back as JSON text.
//
// The provider logs in with a Vault token read from a file or VAULT_TOKEN,
// AppRole, Kubernetes service account or TLS client certificate, renews the
// token in the background with the Vault API's LifetimeWatcher and logs in
// again when renewal fails or the token reaches its maximum TTL, so that a
// running daemon never needs a restart for credentials. Close stops that
// background work and aborts requests in flight.
//
// Every error the Provider returns is a context error of the caller or
// holds a *providers.Error: Vault's status (404 NotFound, 401/403
// PermissionDenied, 429 ResourceExhausted with Vault's Retry-After, 412 and
// 5xx Unavailable), transport failures (Unavailable, classified by
// providers.TransportCode), and the provider's own checks. Check logs in if
// needed and reads the never-created secret "secretbroker-health-check"
// under the mount and path, so it proves reachability, the token and its
// policy on the mount without reading a served secret.
//
// The package uses only github.com/hashicorp/vault/api (MPL-2.0); the Vault
// server itself is used by the tests in the separate test/integration module.
package hashicorp
