package loadgen

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBucketsRoundTrip(t *testing.T) {
	for i := range numBuckets {
		if got := bucketOf(valueOf(i)); got != i {
			t.Fatalf("bucketOf(valueOf(%d) = %d) = %d", i, valueOf(i), got)
		}
		if i > 0 && valueOf(i) <= valueOf(i-1) {
			t.Fatalf("valueOf(%d) = %d is not above valueOf(%d) = %d", i, valueOf(i), i-1, valueOf(i-1))
		}
	}
	if got := bucketOf(maxValue); got != numBuckets-1 {
		t.Fatalf("bucketOf(maxValue) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

func TestHistogramExactBelow256(t *testing.T) {
	var h Histogram
	for v := 1; v <= 200; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 100}, {0.99, 198}, {1, 200}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if h.Count() != 200 || h.Min() != 1 || h.Max() != 200 {
		t.Errorf("count %d min %v max %v, want 200 1ns 200ns", h.Count(), h.Min(), h.Max())
	}
	if got := h.Mean(); got != 101 { // 100.5 rounds up
		t.Errorf("Mean = %v, want 101ns", got)
	}
}

// TestHistogramPrecision compares the quantiles with those of the sorted
// samples: within 1% (the bucket width is at most 0.8%).
func TestHistogramPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	samples := make([]time.Duration, 100_000)
	for i := range samples {
		// Log-uniform between 1 µs and 1 s.
		d := time.Duration(float64(time.Microsecond) * math.Pow(10, rng.Float64()*6))
		samples[i] = d
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := samples[int(q*float64(len(samples)))-1]
		got := h.Quantile(q)
		if rel := float64(got-want) / float64(want); rel > 0.01 || rel < -0.01 {
			t.Errorf("Quantile(%v) = %v, sorted samples say %v (%.2f%% off)", q, got, want, rel*100)
		}
	}
	if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
		t.Errorf("min %v max %v, want %v %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
}

func TestHistogramMergeAndClamp(t *testing.T) {
	var a, b Histogram
	a.Record(-5)
	a.Record(time.Millisecond)
	b.Record(time.Hour) // above the cap
	a.Merge(&b)
	a.Merge(&Histogram{})
	if a.Count() != 3 {
		t.Fatalf("Count = %d, want 3", a.Count())
	}
	if a.Min() != 0 {
		t.Errorf("Min = %v, want 0 (negative clamps to 0)", a.Min())
	}
	if a.Max() != time.Duration(maxValue) {
		t.Errorf("Max = %v, want the cap %v", a.Max(), time.Duration(maxValue))
	}
	if got := a.Quantile(0.5); got < 990*time.Microsecond || got > 1010*time.Microsecond {
		t.Errorf("median %v, want 1ms within 1%%", got)
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("an empty histogram answers non-zero")
	}
}

func TestRunValidates(t *testing.T) {
	op := func(context.Context, int, uint64) error { return nil }
	for _, o := range []Options{
		{Concurrency: 0, Duration: time.Millisecond},
		{Concurrency: 1, Duration: 0},
		{Concurrency: 1, Duration: time.Millisecond, Warmup: -1},
	} {
		if _, err := Run(context.Background(), o, op); err == nil {
			t.Errorf("Run(%+v) accepted invalid options", o)
		}
	}
	if _, err := Run(context.Background(), Options{Concurrency: 1, Duration: time.Millisecond}, nil); err == nil {
		t.Error("Run accepted a nil op")
	}
}

// TestRunCountsAndWorkers checks that every worker runs, that sequence
// numbers count each worker's calls from 0, and that what is counted is
// what was measured.
func TestRunCountsAndWorkers(t *testing.T) {
	const n = 4
	var mu sync.Mutex
	next := make([]uint64, n)
	var bad atomic.Bool
	var calls atomic.Uint64
	res, err := Run(context.Background(), Options{Concurrency: n, Warmup: 5 * time.Millisecond, Duration: 30 * time.Millisecond},
		func(ctx context.Context, w int, seq uint64) error {
			mu.Lock()
			if next[w] != seq {
				bad.Store(true)
			}
			next[w]++
			mu.Unlock()
			calls.Add(1)
			time.Sleep(100 * time.Microsecond)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() {
		t.Error("a worker's sequence numbers did not count from 0 by 1")
	}
	for w, c := range next {
		if c == 0 {
			t.Errorf("worker %d made no call", w)
		}
	}
	if res.Requests == 0 || res.Requests > res.Calls || res.Calls != calls.Load() {
		t.Errorf("Requests = %d, Calls = %d, of %d calls made", res.Requests, res.Calls, calls.Load())
	}
	if res.Latency.Count() != res.Requests {
		t.Errorf("%d latencies for %d requests", res.Latency.Count(), res.Requests)
	}
	if res.Latency.Min() < 100*time.Microsecond {
		t.Errorf("min latency %v is below the op's 100µs sleep", res.Latency.Min())
	}
	if res.Concurrency != n || res.Duration != 30*time.Millisecond || res.RPS() <= 0 {
		t.Errorf("concurrency %d duration %v rps %v", res.Concurrency, res.Duration, res.RPS())
	}
}

func TestRunReportsFailures(t *testing.T) {
	boom := errors.New("boom")
	res, err := Run(context.Background(), Options{Concurrency: 2, Duration: 10 * time.Millisecond},
		func(ctx context.Context, w int, seq uint64) error {
			if w == 1 && seq%2 == 0 {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) {
		t.Fatalf("Run error %v, want one wrapping boom", err)
	}
	if res == nil || res.Errors == 0 || !errors.Is(res.FirstError, boom) {
		t.Fatalf("result %+v: want the failures counted", res)
	}
	if res.Calls == 0 {
		t.Error("no successful call counted: worker 0 never fails")
	}
	if res.Latency.Count() != res.Requests {
		t.Errorf("%d latencies for %d requests: failures must not be measured", res.Latency.Count(), res.Requests)
	}
}

func TestRunCallTimeoutAndCancel(t *testing.T) {
	var deadlines atomic.Int64
	_, err := Run(context.Background(), Options{Concurrency: 1, Duration: 5 * time.Millisecond, CallTimeout: time.Minute},
		func(ctx context.Context, _ int, _ uint64) error {
			if _, ok := ctx.Deadline(); ok {
				deadlines.Add(1)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if deadlines.Load() == 0 {
		t.Error("CallTimeout set no deadline on the calls")
	}

	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	go func() { <-started; cancel() }()
	res, err := Run(ctx, Options{Concurrency: 3, Duration: time.Hour}, func(ctx context.Context, _ int, _ uint64) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v, want context.Canceled", err)
	}
	if res.Errors != 0 {
		t.Errorf("%d errors: calls ended by the run's own cancellation are not failures", res.Errors)
	}
	if res.Duration >= time.Hour {
		t.Errorf("Duration %v: want the shortened window", res.Duration)
	}
}
