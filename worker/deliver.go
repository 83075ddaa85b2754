package worker

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
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
	keep := items[:0]
	for _, it := range items {
		owner := p.prefix + "." + strconv.FormatUint(p.ids.Add(1), 10)
		verdict, claim, err := p.ledger.Claim(ctx, it.d, it.msg.Headers().Get(jetstream.MsgIDHeader), owner)
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
			// Another worker is sending this sale now; look again when it is done.
			p.nak(it.msg, time.Second)
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
	var se *SendError
	if err != nil && !errors.As(err, &se) {
		se = &SendError{Class: Transient, Msg: err.Error()}
	}

	switch {
	case err == nil:
		p.outage.succeeded()
		for _, it := range items {
			p.delivered(ctx, it)
		}
	case se.Class == Permanent && len(items) > 1:
		// Pusher refuses a whole batch for one bad event. Nothing of it was published,
		// so each is sent alone to find the culprit without touching its neighbours.
		p.outage.succeeded()
		for _, it := range items {
			p.send(ctx, []*item{it})
		}
	case se.Class == Permanent:
		p.outage.succeeded()
		p.settle(ctx, items[0], se, true)
	default:
		counts := p.outage.failed(ctx)
		for _, it := range items {
			p.settle(ctx, it, se, counts)
		}
	}
}

// settle is the one place that decides, after a failed attempt, between a retry and the
// dead-letter stream.
func (p *Pool) settle(ctx context.Context, it *item, se *SendError, counts bool) {
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
	base := p.cfg.Backoff[i]
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(base))
	return base + jitter
}

func (p *Pool) delivered(ctx context.Context, it *item) {
	if err := p.ledger.Commit(ctx, it.claim); err != nil {
		// Pusher has the event; acking anyway is right. Only a later report of the same
		// decision could now be sent twice.
		p.log.Error("ledger commit failed after delivery", "sale_id", it.d.SaleID, "err", err)
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
