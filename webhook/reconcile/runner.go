package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
)

// watermarkKey holds, in events.StateBucket, the time the next periodic scan starts from.
const watermarkKey = "reconcile.watermark"

// RunnerConfig tunes the periodic scan. Zero values take the defaults noted on each field.
type RunnerConfig struct {
	// Lookback is how far back the first run scans when no watermark is stored yet,
	// default 24 h.
	Lookback time.Duration

	// Overlap is subtracted from the newest $updatedAt seen before it is stored as the
	// watermark, default 1 min. Appwrite compares $updatedAt with "greater than" at
	// millisecond precision, so without an overlap a row written later in the same
	// millisecond, or committed after the scan with an earlier time, would be skipped.
	// Rows scanned twice are harmless: they are counted as already delivered or
	// deduplicated.
	Overlap time.Duration

	// LeaseTTL is how long a lease lasts unless renewed. Default: twice the interval given
	// to Run, at least 1 min; 5 min for RunOnce alone. It must be longer than a scan.
	LeaseTTL time.Duration

	// InstanceID names the lease holder, default the host name and a random suffix. Two
	// runners must never share one.
	InstanceID string
}

// Defaults applied by [NewRunner].
const (
	DefaultLookback = 24 * time.Hour
	DefaultOverlap  = time.Minute
	defaultLeaseTTL = 5 * time.Minute
	minLeaseTTL     = time.Minute
)

// Runner runs a Scanner on a schedule from a watermark kept in JetStream, one instance at
// a time. Each process needs its own Runner, driven from one goroutine: two calls on the
// same Runner share its lease and could scan at once.
type Runner struct {
	scanner *Scanner
	kv      jetstream.KeyValue
	cfg     RunnerConfig
}

// NewRunner returns a runner keeping its watermark and lease in the events.StateBucket
// bucket of js, which events.EnsureStreams creates. It fails when the bucket is missing.
func NewRunner(ctx context.Context, s *Scanner, js jetstream.JetStream, cfg RunnerConfig) (
	*Runner, error) {
	kv, err := js.KeyValue(ctx, events.StateBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", events.StateBucket, err)
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = DefaultLookback
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = DefaultOverlap
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = instanceID()
	}
	return &Runner{scanner: s, kv: kv, cfg: cfg}, nil
}

// Run scans at once and then every interval until ctx ends, then releases its lease so
// another instance can take over without waiting for it to expire. A failed run is
// logged and counted, and the next one starts from the same watermark. Run returns nil
// when ctx ends, or an error for an interval that is not positive.
func (r *Runner) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("run reconcile: interval %s is not positive", interval)
	}
	ttl := r.cfg.LeaseTTL
	if ttl <= 0 {
		ttl = max(2*interval, minLeaseTTL)
	}
	defer r.release(ctx)

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		_, _, _ = r.runOnce(ctx, ttl) // logged and counted inside

		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// RunOnce takes or renews the lease and, when it holds it, scans from the stored
// watermark (or from Lookback ago when none is stored) and stores the new watermark.
// ran is false when another instance holds the lease. On error the watermark is left as
// it was, so the next run covers the same window again.
func (r *Runner) RunOnce(ctx context.Context) (sum Summary, ran bool, err error) {
	ttl := r.cfg.LeaseTTL
	if ttl <= 0 {
		ttl = defaultLeaseTTL
	}
	return r.runOnce(ctx, ttl)
}

// Release gives up the lease if this runner holds it. Run calls it on return.
func (r *Runner) Release(ctx context.Context) error {
	return releaseLease(ctx, r.kv, r.cfg.InstanceID)
}

func (r *Runner) runOnce(ctx context.Context, ttl time.Duration) (Summary, bool, error) {
	log, m := r.scanner.log, r.scanner.metrics

	ran, sum, err := r.scanHeld(ctx, ttl)
	switch {
	case err != nil && ctx.Err() != nil:
		log.Info("reconcile run interrupted", "err", err)
	case err != nil:
		m.runs.WithLabelValues(outcomeError).Inc()
		log.Error("reconcile run failed", "since", sum.Since, "scanned", sum.Scanned,
			"enqueued", sum.Enqueued, "err", err)
	case !ran:
		m.runs.WithLabelValues(outcomeSkipped).Inc()
		log.Debug("reconcile run skipped: another instance holds the lease")
	default:
		m.runs.WithLabelValues(outcomeOK).Inc()
		log.Info("reconcile run done", "since", sum.Since, "scanned", sum.Scanned,
			"decided", sum.Decided, "already_delivered", sum.AlreadyDelivered,
			"found", sum.Enqueued, "duplicates", sum.Duplicates)
	}
	return sum, ran, err
}

// scanHeld is one run: lease, watermark, scan, new watermark.
func (r *Runner) scanHeld(ctx context.Context, ttl time.Duration) (bool, Summary, error) {
	now := r.scanner.now()
	held, err := acquireLease(ctx, r.kv, r.cfg.InstanceID, now, ttl)
	if err != nil || !held {
		return false, Summary{}, err
	}

	since, revision, err := r.watermark(ctx, now)
	if err != nil {
		return true, Summary{Since: since}, err
	}

	sum, err := r.scanner.Scan(ctx, since, false)
	if err != nil {
		return true, sum, err
	}

	next := since
	if !sum.Newest.IsZero() && sum.Newest.Add(-r.cfg.Overlap).After(since) {
		next = sum.Newest.Add(-r.cfg.Overlap)
	}
	return true, sum, r.storeWatermark(ctx, next, revision)
}

// watermark returns where the next scan starts and the key's revision (0 when absent).
// An unreadable value is replaced by now minus Lookback: rescanning is safe.
func (r *Runner) watermark(ctx context.Context, now time.Time) (time.Time, uint64, error) {
	start := now.Add(-r.cfg.Lookback)

	entry, err := r.kv.Get(ctx, watermarkKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return start, 0, nil
	}
	if err != nil {
		return start, 0, fmt.Errorf("read reconcile watermark: %w", err)
	}

	t, err := time.Parse(time.RFC3339Nano, string(entry.Value()))
	if err != nil {
		r.scanner.log.Warn("reconcile watermark unreadable, scanning the lookback window",
			"value", string(entry.Value()), "err", err)
		return start, entry.Revision(), nil
	}
	return t, entry.Revision(), nil
}

// storeWatermark writes next only if nobody wrote the key since it was read at revision:
// a runner that lost its lease mid-scan cannot move the watermark.
func (r *Runner) storeWatermark(ctx context.Context, next time.Time, revision uint64) error {
	value := []byte(next.UTC().Format(time.RFC3339Nano))

	var err error
	if revision == 0 {
		_, err = r.kv.Create(ctx, watermarkKey, value)
	} else {
		_, err = r.kv.Update(ctx, watermarkKey, value, revision)
	}
	if err != nil {
		return fmt.Errorf("store reconcile watermark %s: %w", value, err)
	}
	return nil
}

func (r *Runner) release(ctx context.Context) {
	// ctx has usually ended by now; the release still deserves a few seconds.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()

	if err := r.Release(ctx); err != nil {
		r.scanner.log.Warn("reconcile lease not released; it expires on its own", "err", err)
	}
}

func instanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "salerelay"
	}
	return host + "-" + hex.EncodeToString(randomBytes(4))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}
