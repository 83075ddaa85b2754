package reconcile

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salerelay/salerelay/events"
)

func newTestRunner(t *testing.T, f *fixture, s *Scanner, cfg RunnerConfig) *Runner {
	t.Helper()
	r, err := NewRunner(context.Background(), s, f.js, cfg)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	return r
}

func stateBucket(t *testing.T, f *fixture) jetstream.KeyValue {
	t.Helper()
	kv, err := f.js.KeyValue(context.Background(), events.StateBucket)
	if err != nil {
		t.Fatalf("open state bucket: %v", err)
	}
	return kv
}

func storedWatermark(t *testing.T, f *fixture) string {
	t.Helper()
	e, err := stateBucket(t, f).Get(context.Background(), watermarkKey)
	if err != nil {
		t.Fatalf("read watermark: %v", err)
	}
	return string(e.Value())
}

func TestRunnerResumesFromWatermark(t *testing.T) {
	rows := saleRows(base, 250)
	f := newFixture(t, rows, nil, nil)
	ctx := context.Background()
	now := f.clock.Now()
	newest := base.Add(124 * time.Second)

	first := newTestRunner(t, f, f.scanner, RunnerConfig{InstanceID: "first"})
	sum, ran, err := first.RunOnce(ctx)
	if err != nil || !ran {
		t.Fatalf("first run: ran %v, err %v", ran, err)
	}
	if sum.Enqueued != decidedCount(rows) {
		t.Errorf("first run enqueued %d, want %d", sum.Enqueued, decidedCount(rows))
	}
	wantMark := newest.Add(-DefaultOverlap).Format(time.RFC3339Nano)
	if got := storedWatermark(t, f); got != wantMark {
		t.Errorf("watermark: got %s, want %s (newest minus overlap)", got, wantMark)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}

	// A restart: a new scanner and runner on the same bucket, and new sales meanwhile.
	later := saleRows(base.Add(10*time.Minute), 4)
	for i := range later {
		later[i].ID = "late" + later[i].ID
	}
	f.appw.addRows(later...)
	scanner, _, _ := f.newScanner(t, nil, nil)
	second := newTestRunner(t, f, scanner, RunnerConfig{InstanceID: "second"})

	sum, ran, err = second.RunOnce(ctx)
	if err != nil || !ran {
		t.Fatalf("second run: ran %v, err %v", ran, err)
	}

	wantSinces := []string{
		now.Add(-DefaultLookback).Format(appwriteTime),
		newest.Add(-DefaultOverlap).Format(appwriteTime),
	}
	if got := f.appw.scanSinces(); !slices.Equal(got, wantSinces) {
		t.Errorf("since sent to Appwrite:\n got %v\nwant %v", got, wantSinces)
	}
	// The overlap rescans the rows of the last minute: 2 rows a second, 60 s, half decided.
	want := Summary{Scanned: 120 + 4, Decided: 60 + 2, Enqueued: 2, Duplicates: 60,
		Newest: base.Add(10*time.Minute + time.Second)}
	checkCounts(t, "second run", sum, want)
	if got := len(storedDecisions(t, f.js)); got != decidedCount(rows)+2 {
		t.Errorf("stored: got %d, want %d", got, decidedCount(rows)+2)
	}
}

func TestRunnerKeepsWatermarkOnFailure(t *testing.T) {
	f := newFixture(t, saleRows(base, 250), nil, func(c *Config) { c.MaxAttempts = 2 })
	ctx := context.Background()
	r := newTestRunner(t, f, f.scanner, RunnerConfig{InstanceID: "only"})

	f.appw.failAfter(1, http.StatusInternalServerError, 2)
	if _, ran, err := r.RunOnce(ctx); err == nil || !ran {
		t.Fatalf("failing run: ran %v, err %v; want ran with an error", ran, err)
	}
	if _, err := stateBucket(t, f).Get(ctx, watermarkKey); !errors.Is(err,
		jetstream.ErrKeyNotFound) {
		t.Errorf("watermark after a failed run: got err %v, want none stored", err)
	}
	if got := len(storedDecisions(t, f.js)); got != 0 {
		t.Errorf("stored after a failed run: got %d, want 0", got)
	}

	if _, _, err := r.RunOnce(ctx); err != nil {
		t.Fatalf("next run: %v", err)
	}
	sinces := f.appw.scanSinces()
	if len(sinces) != 2 || sinces[0] != sinces[1] {
		t.Errorf("since of the two runs: got %v, want the same window twice", sinces)
	}

	runs := f.scanner.metrics.runs
	for outcome, want := range map[string]float64{outcomeOK: 1, outcomeError: 1} {
		if got := testutil.ToFloat64(runs.WithLabelValues(outcome)); got != want {
			t.Errorf("runs_total{%s}: got %v, want %v", outcome, got, want)
		}
	}
}

func TestRunnersRaceForTheLease(t *testing.T) {
	f := newFixture(t, saleRows(base, 250), nil, nil)
	ctx := context.Background()
	cfg := RunnerConfig{LeaseTTL: 2 * time.Minute}

	runners := make([]*Runner, 2)
	clocks := make([]*testClock, 2)
	for i, id := range []string{"a", "b"} {
		s, _, _ := f.newScanner(t, nil, nil)
		clocks[i] = &testClock{now: f.clock.Now()}
		s.now = clocks[i].Now
		c := cfg
		c.InstanceID = id
		runners[i] = newTestRunner(t, f, s, c)
	}

	start := make(chan struct{})
	ran := make([]bool, 2)
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Go(func() {
			<-start
			_, held, err := r.RunOnce(ctx)
			if err != nil {
				t.Errorf("runner %d: %v", i, err)
			}
			ran[i] = held
		})
	}
	close(start)
	wg.Wait()

	if ran[0] == ran[1] {
		t.Fatalf("ran: got %v, want exactly one runner to scan", ran)
	}
	if got := len(f.appw.scanSinces()); got != 1 {
		t.Errorf("scans seen by Appwrite: got %d, want 1", got)
	}
	holder, other := 0, 1
	if ran[1] {
		holder, other = 1, 0
	}

	steps := []struct {
		name    string
		runner  int
		advance time.Duration // moves both clocks first
		wantRan bool
	}{
		{"other while lease is live", other, 0, false},
		{"holder renews", holder, time.Minute, true},
		{"other before renewed expiry", other, time.Minute + 59*time.Second, false},
		{"other after expiry takes over", other, 2 * time.Second, true},
		{"former holder is now locked out", holder, 0, false},
	}
	for _, st := range steps {
		for _, c := range clocks {
			c.Add(st.advance)
		}
		_, got, err := runners[st.runner].RunOnce(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.wantRan {
			t.Errorf("%s: ran %v, want %v", st.name, got, st.wantRan)
		}
	}
	if got := len(f.appw.scanSinces()); got != 3 {
		t.Errorf("scans seen by Appwrite: got %d, want 3", got)
	}
	skipped := runners[other].scanner.metrics.runs.WithLabelValues(outcomeSkipped)
	if got := testutil.ToFloat64(skipped); got != 3 {
		t.Errorf("runs_total{skipped} of the other runner: got %v, want 3", got)
	}
}

func TestRunScansAndReleasesLeaseOnStop(t *testing.T) {
	f := newFixture(t, saleRows(base, 250), nil, nil)
	kv := stateBucket(t, f)
	r := newTestRunner(t, f, f.scanner, RunnerConfig{InstanceID: "serve-1"})

	watch, err := kv.Watch(context.Background(), watermarkKey)
	if err != nil {
		t.Fatalf("watch watermark: %v", err)
	}
	t.Cleanup(func() { _ = watch.Stop() })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, time.Hour) }()

	for e := range watch.Updates() {
		if e != nil { // nil marks the end of the values stored before the watch
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: got %v, want nil on stop", err)
	}

	if _, err := kv.Get(context.Background(), leaseKey); !errors.Is(err,
		jetstream.ErrKeyNotFound) {
		t.Errorf("lease after stop: got err %v, want it released", err)
	}
	s, _, _ := f.newScanner(t, nil, nil)
	next := newTestRunner(t, f, s, RunnerConfig{InstanceID: "serve-2"})
	if _, ran, err := next.RunOnce(context.Background()); err != nil || !ran {
		t.Errorf("next instance: ran %v, err %v; want it to take the lease at once", ran, err)
	}
}

func TestRunRejectsNonPositiveInterval(t *testing.T) {
	f := newFixture(t, nil, nil, nil)
	r := newTestRunner(t, f, f.scanner, RunnerConfig{})

	if err := r.Run(context.Background(), 0); err == nil {
		t.Error("Run with interval 0: got nil, want an error")
	}
}
