package providertest

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitForReturnsOnceCondHolds(t *testing.T) {
	var n atomic.Int64
	WaitFor(t, "the third look", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("cond called %d times, want 3 (WaitFor returned before it held, or kept polling after)", got)
	}
}

func TestWaitForFailsAtTheDeadline(t *testing.T) {
	failed := failureOf(t, func(tb testing.TB) {
		waitFor(tb, "the impossible", func() bool { return false }, 20*time.Millisecond)
	})
	if want := "timed out waiting for the impossible"; failed != want {
		t.Fatalf("failure %q, want %q", failed, want)
	}
}
