package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// outage pauses delivery while Pusher fails every call. After tripAfter transient
// failures in a row it opens: workers stop sending, one prober calls Pusher with a growing
// interval, and the first answer closes it again. Attempts made while it is open do not
// count toward the attempt limit, so an hour-long outage dead-letters nothing.
type outage struct {
	tripAfter int
	probe     func(context.Context) error
	minWait   time.Duration
	maxWait   time.Duration
	log       *slog.Logger
	onChange  func(open bool)

	mu       sync.Mutex
	failures int           // transient failures in a row
	healthy  chan struct{} // closed while Pusher is up; replaced when an outage starts
}

func newOutage(probe func(context.Context) error, log *slog.Logger, onChange func(bool)) *outage {
	o := &outage{
		tripAfter: 5,
		probe:     probe,
		minWait:   500 * time.Millisecond,
		maxWait:   30 * time.Second,
		log:       log,
		onChange:  onChange,
		healthy:   make(chan struct{}),
	}
	close(o.healthy)
	return o
}

// wait blocks while an outage is open. It returns ctx's error if ctx ends first.
func (o *outage) wait(ctx context.Context) error {
	// Checked first: with Pusher up both select cases are ready, and select would pick
	// one at random, letting a stopping worker take more work half the time.
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	healthy := o.healthy
	o.mu.Unlock()

	select {
	case <-healthy:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// succeeded records an accepted call.
func (o *outage) succeeded() {
	o.mu.Lock()
	o.failures = 0
	o.mu.Unlock()
}

// failed records a transient failure and reports whether the attempt counts: it does not
// when it found or started an outage.
func (o *outage) failed(ctx context.Context) (counts bool) {
	o.mu.Lock()
	defer o.mu.Unlock()

	if o.openLocked() {
		return false
	}
	o.failures++
	if o.failures < o.tripAfter {
		return true
	}
	o.tripLocked(ctx, "consecutive failures")
	return false
}

// confirm is asked before a failed attempt uses up a decision's last try: it probes
// Pusher once and reports whether Pusher answers. When it does not, the failure is an
// outage rather than this decision's fault: confirm opens the gate and the attempt must
// not count. Without it, a decision retried alone with short delays would reach the limit
// before tripAfter failures in a row ever opened the gate.
func (o *outage) confirm(ctx context.Context) bool {
	if o.isOpen() {
		return false
	}
	err := o.probe(ctx)
	if err == nil {
		return true
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.openLocked() {
		o.log.Debug("pusher probe failed before a last attempt", "err", err)
		o.tripLocked(ctx, "probe failed")
	}
	return false
}

func (o *outage) isOpen() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.openLocked()
}

func (o *outage) openLocked() bool {
	select {
	case <-o.healthy:
		return false
	default:
		return true
	}
}

// tripLocked opens the gate and starts the prober; the caller holds mu. onChange runs
// under mu too, so that the paused gauge follows the transitions in their order.
func (o *outage) tripLocked(ctx context.Context, why string) {
	o.healthy = make(chan struct{})
	o.log.Warn("pusher outage: delivery paused, probing", "failures", o.failures,
		"reason", why)
	o.onChange(true)
	go o.probeUntilUp(ctx, o.healthy)
}

func (o *outage) probeUntilUp(ctx context.Context, healthy chan struct{}) {
	started := time.Now()
	wait := o.minWait
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}

		if err := o.probe(ctx); err != nil {
			o.log.Debug("pusher probe failed", "err", err)
			wait = min(wait*2, o.maxWait)
			continue
		}

		o.mu.Lock()
		o.failures = 0
		close(healthy)
		o.onChange(false)
		o.mu.Unlock()
		o.log.Info("pusher answers again: delivery resumed",
			"paused_seconds", time.Since(started).Seconds())
		return
	}
}
