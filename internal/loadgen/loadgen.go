// Package loadgen is a closed-loop load generator for benchmarks of the
// daemon and of what it is compared with (a bare gRPC server, a vault read
// directly): N workers, each issuing its next call as soon as its previous
// one returns, first through a warm-up whose calls are not measured, then
// through a fixed measured window. It counts the calls that complete in
// the window and records their latencies in a log-bucket histogram of fixed
// size, so a run's memory does not grow with its length.
//
// The workers share whatever the call closes over: benchmarks of a gRPC
// server give every worker the same *grpc.ClientConn, as a client library
// in a bot runner would.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Op is one call of the load. worker is the worker issuing it (0 to
// Concurrency-1) and seq counts that worker's calls from 0, so an Op can
// ask for distinct things (worker and seq together are unique in a run).
// An Op returns an error when the call failed; failed calls are counted,
// not measured.
type Op func(ctx context.Context, worker int, seq uint64) error

// Options says how to run a load.
type Options struct {
	// Concurrency is the number of workers, each with one call in flight.
	// It must be at least 1.
	Concurrency int
	// Warmup is how long the workers run before the measured window; its
	// calls are neither counted nor measured. It may be 0.
	Warmup time.Duration
	// Duration is the length of the measured window. It must be positive.
	Duration time.Duration
	// CallTimeout, when positive, bounds each call with a context deadline.
	CallTimeout time.Duration
}

// Result is what a run measured.
type Result struct {
	// Concurrency is the number of workers.
	Concurrency int
	// Duration is the length of the measured window (shorter than asked
	// when the context ended early).
	Duration time.Duration
	// Requests counts the calls that completed without error in the window.
	Requests uint64
	// Calls counts every call that completed without error, warm-up and
	// the calls ending after the window included: what the server did
	// during the whole run (to divide its CPU time by, for one).
	Calls uint64
	// Errors counts the calls that failed, warm-up included.
	Errors uint64
	// FirstError is the first failure, nil when there was none.
	FirstError error
	// Latency holds the latencies of the calls counted in Requests.
	Latency *Histogram
}

// RPS returns the completed calls per second of the measured window.
func (r *Result) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// P50 returns the median latency.
func (r *Result) P50() time.Duration { return r.Latency.Quantile(0.50) }

// P99 returns the 99th percentile latency.
func (r *Result) P99() time.Duration { return r.Latency.Quantile(0.99) }

// worker is the state of one worker, merged into the Result at the end.
type worker struct {
	hist     Histogram
	calls    uint64
	requests uint64
	errors   uint64
	firstErr error
}

// Run runs op under opts until the measured window ends or ctx ends, and
// waits for the calls in flight to return. It returns the measurement, and
// an error when the options are invalid, when ctx ended before the window
// did, or when any call failed (the Result is returned in every case but
// the first). A call that completes after the window ended is neither
// counted nor measured.
func Run(ctx context.Context, opts Options, op Op) (*Result, error) {
	if opts.Concurrency < 1 {
		return nil, fmt.Errorf("loadgen: concurrency %d: want at least 1", opts.Concurrency)
	}
	if opts.Duration <= 0 {
		return nil, fmt.Errorf("loadgen: duration %v: want a positive duration", opts.Duration)
	}
	if opts.Warmup < 0 {
		return nil, fmt.Errorf("loadgen: warm-up %v: want 0 or more", opts.Warmup)
	}
	if op == nil {
		return nil, errors.New("loadgen: op is nil")
	}
	start := time.Now()
	from := start.Add(opts.Warmup)
	until := from.Add(opts.Duration)
	workers := make([]*worker, opts.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, opts, op, i, from, until)
		}()
	}
	wg.Wait()
	end := time.Now()

	res := &Result{Concurrency: opts.Concurrency, Duration: opts.Duration, Latency: &Histogram{}}
	for _, w := range workers {
		res.Requests += w.requests
		res.Calls += w.calls
		res.Errors += w.errors
		if res.FirstError == nil {
			res.FirstError = w.firstErr
		}
		res.Latency.Merge(&w.hist)
	}
	if err := ctx.Err(); err != nil {
		res.Duration = max(0, min(opts.Duration, end.Sub(from)))
		return res, fmt.Errorf("loadgen: stopped before the measured window ended: %w", err)
	}
	if res.Errors > 0 {
		return res, fmt.Errorf("loadgen: %d calls failed; the first: %w", res.Errors, res.FirstError)
	}
	return res, nil
}

func (w *worker) run(ctx context.Context, opts Options, op Op, id int, from, until time.Time) {
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		t0 := time.Now()
		if !t0.Before(until) {
			return
		}
		cctx, cancel := ctx, context.CancelFunc(nil)
		if opts.CallTimeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, opts.CallTimeout)
		}
		err := op(cctx, id, seq)
		if cancel != nil {
			cancel()
		}
		t1 := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return // the run was stopped; this is not the server's failure
			}
			w.errors++
			if w.firstErr == nil {
				w.firstErr = err
			}
			continue
		}
		w.calls++
		if t1.After(from) && !t1.After(until) {
			w.requests++
			w.hist.Record(t1.Sub(t0))
		}
	}
}
