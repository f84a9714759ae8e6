package providertest

import (
	"testing"
	"time"
)

// waitDeadline is how long WaitFor waits: generous, since a loaded CI
// machine can be slow, and only ever spent by a failing test.
const waitDeadline = 15 * time.Second

// WaitFor polls cond every few milliseconds until it holds, and fails t
// with "timed out waiting for <what>" when it still does not after 15
// seconds. Tests use it to wait for goroutines to reach a state (a read in
// flight, a caller queued) without a bare sleep.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, cond, waitDeadline)
}

func waitFor(t testing.TB, what string, cond func() bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
