package worker

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker/dlq"
)

// item is one message on its way to Pusher.
type item struct {
	msg   jetstream.Msg
	seq   uint64 // work-stream sequence
	d     events.SaleDecision
	ev    Event
	claim *Claim
}

// deliver takes a batch of messages through decode, the outage gate, the ledger and one
// Pusher call. Every message leaves acked, naked for a retry, or dead-lettered.
func (p *Pool) deliver(stop, ctx context.Context, msgs []jetstream.Msg) {
	items := make([]*item, 0, len(msgs))
	for _, msg := range msgs {
		if it := p.decode(ctx, msg); it != nil {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return
	}

	if err := p.waitForPusher(stop, items); err != nil {
		for _, it := range items {
			p.nak(it.msg, 0) // stopping: hand it to another instance or the next start
		}
		return
	}

	items = p.claim(ctx, items)
	if len(items) > 0 {
		p.send(ctx, items)
	}
}

// decode reads a message. Undecodable or undeliverable ones are dead-lettered here.
func (p *Pool) decode(ctx context.Context, msg jetstream.Msg) *item {
	it := &item{msg: msg}
	if meta, err := msg.Metadata(); err == nil {
		it.seq = meta.Sequence.Stream
	}

	if err := json.Unmarshal(msg.Data(), &it.d); err != nil {
		p.deadLetter(ctx, it, dlq.Poison, "message is not a sale decision", err.Error(), nil)
		return nil
	}
	channel, name, data, err := it.d.Event(p.cfg.ChannelPrefix)
	if err != nil {
		p.deadLetter(ctx, it, dlq.Permanent, err.Error(), err.Error(), nil)
		return nil
	}
	it.ev = Event{Channel: channel, Name: name, Data: data}
	return it
}

// waitForPusher blocks while a Pusher outage lasts, telling JetStream that the held
// messages are still being worked on so they are not redelivered meanwhile.
func (p *Pool) waitForPusher(stop context.Context, items []*item) error {
	waitCtx, cancel := context.WithCancel(stop)
	defer cancel()

	ticker := time.NewTicker(p.cfg.AckWait / 3)
	defer ticker.Stop()
	done := make(chan error, 1)
	go func() { done <- p.outage.wait(waitCtx) }()

	for {
		select {
		case err := <-done:
			return err
		case <-ticker.C:
			for _, it := range items {
				_ = it.msg.InProgress() // if lost, redelivery and the ledger cover it
			}
		}
	}
}

// claim asks the ledger about each item and keeps the ones to send.
func (p *Pool) claim(ctx context.Context, items []*item) []*item {
	type result struct {
		verdict Verdict
		claim   *Claim
		err     error
	}
	results := make([]result, len(items))
	inParallel(len(items), func(i int) {
		it := items[i]
		owner := p.prefix + "." + strconv.FormatUint(p.ids.Add(1), 10)
		msgID := it.msg.Headers().Get(jetstream.MsgIDHeader)
		r := &results[i]
		r.verdict, r.claim, r.err = p.ledger.Claim(ctx, it.d, msgID, owner)
	})

	keep := items[:0]
	for i, it := range items {
		verdict, claim, err := results[i].verdict, results[i].claim, results[i].err
		if err != nil {
			p.log.Error("ledger unavailable, retrying later", "sale_id", it.d.SaleID, "err", err)
			p.nak(it.msg, time.Second)
			continue
		}

		switch verdict {
		case Send:
			it.claim = claim
			keep = append(keep, it)
		case Busy:
			// Another worker is sending this sale now; look again when it is done. The
			// jitter keeps many reports of one sale from coming back as one burst.
			p.nak(it.msg, jitter(busyDelay))
		case Duplicate, Stale:
			p.skip(it, verdict)
		}
	}
	return keep
}

// send makes one Pusher call for items and settles each of them.
func (p *Pool) send(ctx context.Context, items []*item) {
	evs := make([]Event, len(items))
	for i, it := range items {
		evs[i] = it.ev
	}
	p.metrics.batchSize.Observe(float64(len(evs)))

	err := p.sender.Send(ctx, evs)
	if err == nil {
		p.outage.succeeded()
		inParallel(len(items), func(i int) { p.delivered(ctx, items[i]) })
		return
	}
	if ctx.Err() != nil {
		p.returnUnsent(ctx, items)
		return
	}

	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Class: Transient, Msg: err.Error()}
	}
	switch {
	case se.Class == Permanent && len(items) > 1:
		p.outage.succeeded()
		p.sendAlone(ctx, items)
	case se.Class == Permanent:
		p.outage.succeeded()
		p.settle(ctx, items[0], se, true)
	default:
		counts := p.outage.failed(ctx)
		if counts && p.lastTry(items) && !p.outage.confirm(ctx) {
			counts = false // Pusher does not answer at all: an outage, not these events
		}
		for _, it := range items {
			p.settle(ctx, it, se, counts)
		}
	}
}

// lastTry reports whether a counted failure would use up the last attempt of an item.
func (p *Pool) lastTry(items []*item) bool {
	for _, it := range items {
		if it.claim.attempts+1 >= p.cfg.MaxAttempts {
			return true
		}
	}
	return false
}

// sendAlone handles a batch Pusher refused as a whole for one bad event. Nothing of it
// was published, so each is sent alone to find the culprit without touching its
// neighbours. The claims are dropped first and taken again right before each call: ten
// slow calls in a row could outlast a lease held from the start, and another worker
// would then send the same decision. InProgress restarts each message's ack timer.
func (p *Pool) sendAlone(ctx context.Context, items []*item) {
	for _, it := range items {
		p.abandon(ctx, it)
	}
	for _, it := range items {
		_ = it.msg.InProgress() // if lost, redelivery and the ledger cover it
		if kept := p.claim(ctx, []*item{it}); len(kept) == 1 {
			p.send(ctx, kept)
		}
	}
}

// returnUnsent handles a call cut off by the stop, once StopTimeout has passed. Whether
// Pusher accepted it is unknown. The claims are dropped without counting an attempt
// (the stop says nothing about Pusher) and the messages go back to the queue, where the
// next delivery sends them again: the one duplicate SPEC §7.2 allows, the process ending
// between Pusher accepting and the ledger recording.
func (p *Pool) returnUnsent(ctx context.Context, items []*item) {
	// In parallel, so that a slow ledger costs one bookkeeping timeout, not one per
	// event, inside the 30 s a stop may take.
	inParallel(len(items), func(i int) {
		p.abandon(ctx, items[i])
		p.nak(items[i].msg, 0)
	})
	p.log.Warn("delivery cut off by the stop, returned to the queue", "events", len(items))
}

func (p *Pool) abandon(ctx context.Context, it *item) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := p.ledger.Abandon(ctx, it.claim); err != nil {
		// The lease expires on its own; until then the sale waits as Busy.
		p.log.Warn("ledger release failed", "sale_id", it.d.SaleID, "err", err)
	}
	it.claim = nil
}

// settle is the one place that decides, after a failed attempt, between a retry and the
// dead-letter stream.
func (p *Pool) settle(ctx context.Context, it *item, se *SendError, counts bool) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()

	f, err := p.ledger.Release(ctx, it.claim, se.Error(), counts)
	if err != nil {
		p.log.Error("ledger unavailable, retrying later", "sale_id", it.d.SaleID, "err", err)
		p.nak(it.msg, time.Second)
		return
	}

	switch {
	case se.Class == Permanent:
		p.deadLetter(ctx, it, dlq.Permanent, "pusher refused the event", se.Error(), &f)
	case f.Attempts >= p.cfg.MaxAttempts:
		p.deadLetter(ctx, it, dlq.Exhausted, "retries exhausted", se.Error(), &f)
	default:
		delay := p.backoff(f.Attempts)
		p.metrics.deliveries.WithLabelValues(outcomeRetried).Inc()
		p.log.Warn("delivery retried", "sale_id", it.d.SaleID, "decision", it.d.Decision,
			"attempt", f.Attempts, "counted", counts, "retry_in", delay.String(),
			"err", se.Error())
		p.nak(it.msg, delay)
	}
}

// backoff returns the delay before the next attempt, with ±20 % jitter so that a burst
// of failures does not come back as one burst.
func (p *Pool) backoff(attempts int) time.Duration {
	i := min(max(attempts-1, 0), len(p.cfg.Backoff)-1)
	return jitter(p.cfg.Backoff[i])
}

// busyDelay is how long a decision waits while another worker sends its sale.
const busyDelay = time.Second

// jitter returns base ±20 %.
func jitter(base time.Duration) time.Duration {
	return base + time.Duration((rand.Float64()*0.4-0.2)*float64(base))
}

// bookkeepingTimeout bounds the ledger and dead-letter writes that record an outcome.
const bookkeepingTimeout = 5 * time.Second

// bookkeeping returns the context for recording an outcome already decided. It survives
// the cancellation of ctx: once Pusher has answered, a stop must not keep the answer
// from the ledger, or a later report of the same decision would be sent again.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

func (p *Pool) delivered(ctx context.Context, it *item) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()

	held, err := p.ledger.Commit(ctx, it.claim)
	switch {
	case err != nil:
		// Pusher has the event; acking anyway is right. Only a later report of the same
		// decision could now be sent twice.
		p.log.Error("ledger commit failed after delivery", "sale_id", it.d.SaleID, "err", err)
	case !held:
		p.log.Warn("claim expired before the delivery was recorded; another worker may "+
			"have sent the same decision", "sale_id", it.d.SaleID, "decision", it.d.Decision)
	}
	if err := it.msg.Ack(); err != nil {
		p.log.Warn("ack failed; the ledger will drop the redelivery", "sale_id", it.d.SaleID,
			"err", err)
	}

	now := time.Now()
	p.metrics.deliveries.WithLabelValues(outcomeDelivered).Inc()
	p.metrics.published.WithLabelValues(it.ev.Name).Inc()
	p.metrics.latency.WithLabelValues("received").Observe(sinceMillis(now, it.d.ReceivedAt))
	p.metrics.latency.WithLabelValues("updated").Observe(sinceMillis(now, it.d.Timestamp))
	p.log.Info("event delivered", "sale_id", it.d.SaleID, "decision", it.d.Decision,
		"event", it.ev.Name, "channel", it.ev.Channel, "source", it.d.Source)
}

func (p *Pool) skip(it *item, v Verdict) {
	if v == Duplicate {
		p.metrics.duplicates.Inc()
	} else {
		p.metrics.stale.Inc()
	}
	p.log.Info("delivery skipped", "sale_id", it.d.SaleID, "decision", it.d.Decision,
		"reason", v.String(), "source", it.d.Source)
	if err := it.msg.Ack(); err != nil {
		p.log.Warn("ack failed", "sale_id", it.d.SaleID, "err", err)
	}
}

// deadLetter stores a record and only then terminates the message. If storing fails the
// message is retried later; if the process dies between the two, the redelivered message
// stores the same record id again, which JetStream drops as a duplicate.
func (p *Pool) deadLetter(ctx context.Context, it *item, class dlq.Class, reason, lastErr string,
	f *failure) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()

	now := time.Now()
	rec := dlq.Record{
		SaleID: it.d.SaleID, UserID: it.d.UserID, Decision: it.d.Decision,
		Reason: reason, Class: class, LastError: lastErr,
		FirstFailedAt: now, LastFailedAt: now,
		Subject: it.msg.Subject(), MsgID: it.msg.Headers().Get(jetstream.MsgIDHeader),
		OriginalSeq: it.seq, Data: it.msg.Data(),
	}
	if class != dlq.Poison {
		d := it.d
		rec.Event = &d
	}
	if f != nil {
		rec.Attempts = f.Attempts
		rec.FirstFailedAt = time.UnixMilli(f.FirstAt)
		rec.LastFailedAt = time.UnixMilli(f.LastAt)
	}

	id, err := p.dlq.Add(ctx, rec)
	if err != nil {
		p.log.Error("dead-letter store failed, retrying later", "sale_id", it.d.SaleID,
			"err", err)
		p.nak(it.msg, 5*time.Second)
		return
	}
	if it.claim != nil {
		if err := p.ledger.Forget(ctx, it.claim); err != nil {
			p.log.Warn("ledger cleanup failed", "sale_id", it.d.SaleID, "err", err)
		}
	}
	if err := it.msg.TermWithReason(reason); err != nil {
		p.log.Warn("term failed; the redelivery stores the same record", "sale_id",
			it.d.SaleID, "err", err)
	}

	p.metrics.deliveries.WithLabelValues(outcomeDeadLettered).Inc()
	p.log.Error("event dead-lettered", "sale_id", it.d.SaleID, "decision", it.d.Decision,
		"class", class, "reason", reason, "attempt", rec.Attempts, "dlq_id", id,
		"err", lastErr)
}

func sinceMillis(now time.Time, ms int64) float64 {
	if ms <= 0 {
		return 0
	}
	return max(now.Sub(time.UnixMilli(ms)).Seconds(), 0)
}

// inParallel runs fn(0) … fn(n-1) at once and waits for all: the ledger round trips of a
// batch overlap instead of adding up (measured: 2,000 → 2,500 events/s at 50 ms Pusher).
func inParallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}
