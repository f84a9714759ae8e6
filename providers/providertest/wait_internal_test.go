package providertest

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the failure and ends
// the goroutine, as testing's does.
type fatalRecorder struct {
	testing.TB
	failed string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitForReturnsOnceCondHolds(t *testing.T) {
	var n atomic.Int64
	WaitFor(t, "the third look", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("cond called %d times, want 3 (WaitFor returned before it held, or kept polling after)", got)
	}
}

func TestWaitForFailsAtTheDeadline(t *testing.T) {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitFor(r, "the impossible", func() bool { return false }, 20*time.Millisecond)
	}()
	<-done
	if want := "timed out waiting for the impossible"; r.failed != want {
		t.Fatalf("failure %q, want %q", r.failed, want)
	}
}
