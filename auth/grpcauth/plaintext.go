package grpcauth

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// InsecurePlaintextSetting is the name of the configuration setting that
// lets the daemon serve gRPC without TLS on a non-loopback address, for a
// TLS-terminating proxy or sidecar in front of it that alone can reach
// that address. PlaintextAllowed does not know about it: the caller skips
// the check when the setting is true and logs a warning at every start.
// Callers reaching the daemon through such a proxy arrive without a client
// certificate, so they authenticate with bearer tokens.
const InsecurePlaintextSetting = "insecure_plaintext_behind_tls_terminating_proxy"

// PlaintextAllowed returns nil when the daemon may listen on the TCP
// address addr ("host:port") without TLS: the host is a loopback address
// (127.0.0.0/8, ::1) or "localhost". Any other host, including an empty
// one or 0.0.0.0 (every interface), is refused with a one-line error
// saying how to configure TLS. It only reads the string: it resolves no
// name and dials nothing.
func PlaintextAllowed(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("grpcauth: listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.WithZone("").Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("grpcauth: listen address %q is not loopback, so it needs TLS: set server.tls.cert_file, server.tls.key_file and server.tls.client_ca_file (or %s: true behind a TLS-terminating proxy)", addr, InsecurePlaintextSetting)
}
