package integration

import (
	"testing"

	"github.com/secretbroker/secretbroker/providers/providertest"
)

// TestVaultConformanceKV2 runs the conformance suite against a KV v2 mount,
// with secrets under a path inside the mount.
func TestVaultConformanceKV2(t *testing.T) {
	s := startVault(t)
	providertest.Run(t, newHarness(t, s, "kv2", "rpa/credentials", 2), providertest.Options{BinaryValues: false})
}

// TestVaultConformanceKV1 runs the conformance suite against the KV v1
// "secret/" mount of the test core, secrets directly under the mount.
func TestVaultConformanceKV1(t *testing.T) {
	s := startVault(t)
	providertest.Run(t, newHarness(t, s, "secret", "", 1), providertest.Options{BinaryValues: false})
}
