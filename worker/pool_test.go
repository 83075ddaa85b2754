package worker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/worker/dlq"
)

// TestTransientFailuresThenDeliveredOnce: Pusher answers 500 three times, then accepts.
// The decision is delivered once, after four calls.
func TestTransientFailuresThenDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	e.stand.FailNext(3, 500)
	e.start(e.newPool(nil, testConfig()))

	e.enqueue(decision("s1", events.Confirmed, 100))
	e.waitEvents(1)
	e.waitIdle()

	if got := e.stand.Requests(); got != 4 {
		t.Errorf("pusher got %d requests, want 4 (3 failures and the delivery)", got)
	}
	if got := delivered(t, e.stand.Events()); !slices.Equal(got["s1"], []string{"sale:confirmed"}) {
		t.Errorf("events of s1: %v, want one sale:confirmed", got["s1"])
	}
	if recs := e.deadLetters(); len(recs) != 0 {
		t.Errorf("%d dead-letter records, want none", len(recs))
	}
}

// TestEmptyBodyCountsAsDelivered: a 2xx whose body the client cannot decode means Pusher
// has the event; it is acked, never retried.
func TestEmptyBodyCountsAsDelivered(t *testing.T) {
	e := newEnv(t)
	e.stand.AcceptEmptyBody(true)
	e.start(e.newPool(nil, testConfig()))

	e.enqueue(decision("s1", events.Confirmed, 100))
	e.waitEvents(1)
	e.waitIdle()

	if got := e.stand.Requests(); got != 1 {
		t.Errorf("pusher got %d requests, want 1", got)
	}
	if got := e.logCount("delivery retried"); got != 0 {
		t.Errorf("%d retries logged, want none", got)
	}
	if got, _ := e.ledgerEntry("s1"); got.Delivered == nil {
		t.Errorf("ledger has no delivery for s1: %+v", got)
	}
}

// TestBatchWithOneBadChannel: a batch that Pusher refuses for one event is split; the
// neighbours are delivered once each and only the bad one is dead-lettered.
func TestBatchWithOneBadChannel(t *testing.T) {
	e := newEnv(t)
	p := e.newPool(nil, testConfig())
	sales := []string{"s1", "s2", "bad", "s4", "s5"}
	for i, s := range sales {
		e.enqueue(decision(s, events.Confirmed, int64(100+i)))
	}
	e.stand.FailChannel(testPrefix+"user-bad", 400)

	// Fetch the five as one batch and deliver it, as a worker does when they are ready
	// together.
	cons, err := e.js.CreateOrUpdateConsumer(t.Context(), events.WorkStream, p.ConsumerConfig())
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.Fetch(len(sales), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != len(sales) {
		t.Fatalf("fetched %d messages, want %d", len(msgs), len(sales))
	}
	p.deliver(t.Context(), t.Context(), msgs)
	e.waitIdle()

	got := delivered(t, e.stand.Events())
	for _, s := range sales {
		want := []string{"sale:confirmed"}
		if s == "bad" {
			want = nil
		}
		if !slices.Equal(got[s], want) {
			t.Errorf("events of %s: %v, want %v", s, got[s], want)
		}
	}
	if got, want := e.stand.Requests(), 1+len(sales); got != want {
		t.Errorf("pusher got %d requests, want %d (the batch, then each alone)", got, want)
	}
	recs := e.deadLetters()
	if len(recs) != 1 || recs[0].SaleID != "bad" || recs[0].Class != dlq.Permanent {
		t.Fatalf("dead letters %+v, want one permanent record for sale bad", recs)
	}
	if recs[0].LastError != "pusher answered 400: Bad Request" {
		t.Errorf("last error %q, want the 400", recs[0].LastError)
	}
}

// TestTwoInstancesOneEventPerDecision runs two pools on two connections to one JetStream
// and queues many reports of the same decisions at once: each decision reaches Pusher
// once, and where a sale was confirmed and then rejected the rejection is the last event.
func TestTwoInstancesOneEventPerDecision(t *testing.T) {
	e := newEnv(t)
	second, err := broker.Open(t.Context(), broker.Options{URL: e.broker.ClientURL(),
		Name: "second-instance"})
	if err != nil {
		t.Fatalf("connect second instance: %v", err)
	}
	t.Cleanup(second.Close)
	e.stand.SetLatency(5 * time.Millisecond)

	e.start(e.newPool(nil, testConfig()))
	e.start(e.newPool(second.JS, testConfig()))

	const sales, reports = 20, 6
	var wg sync.WaitGroup
	for s := range sales {
		sale := fmt.Sprintf("s%02d", s)
		for r := range reports {
			// Every report differs in time (later edits, other sources), so JetStream's
			// dedup does not merge them: only the ledger can.
			d := decision(sale, events.Confirmed, int64(1000+r))
			if s%4 == 0 && r == reports-1 {
				d = decision(sale, events.Rejected, 2000)
			}
			wg.Go(func() { e.enqueue(d) })
		}
	}
	wg.Wait()

	e.waitIdle()
	got := delivered(t, e.stand.Events())
	for s := range sales {
		sale := fmt.Sprintf("s%02d", s)
		names := got[sale]
		if s%4 != 0 {
			if !slices.Equal(names, []string{"sale:confirmed"}) {
				t.Errorf("events of %s: %v, want one sale:confirmed", sale, names)
			}
			continue
		}
		// Confirmed first and then rejected, or only rejected when the rejection came
		// first (the older confirmations are then stale).
		if !slices.Equal(names, []string{"sale:confirmed", "sale:rejected"}) &&
			!slices.Equal(names, []string{"sale:rejected"}) {
			t.Errorf("events of %s: %v, want [sale:confirmed sale:rejected] or "+
				"[sale:rejected]", sale, names)
		}
	}
	if recs := e.deadLetters(); len(recs) != 0 {
		t.Errorf("%d dead-letter records, want none", len(recs))
	}
}

// TestConsumerRecreatedAfterDeletion deletes the durable consumer under a running pool:
// the pool recreates it, and decisions queued afterwards are still delivered.
func TestConsumerRecreatedAfterDeletion(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.newPool(nil, testConfig()))
	r.waitRunning(t)

	e.enqueue(decision("before", events.Confirmed, 100))
	e.waitEvents(1)
	e.waitIdle()

	if err := e.js.DeleteConsumer(t.Context(), events.WorkStream, events.WorkConsumer); err != nil {
		t.Fatalf("delete consumer: %v", err)
	}
	e.enqueue(decision("after", events.Confirmed, 200))

	e.waitEvents(2)
	e.waitIdle()
	r.waitRunning(t)
	got := delivered(t, e.stand.Events())
	for _, s := range []string{"before", "after"} {
		if !slices.Equal(got[s], []string{"sale:confirmed"}) {
			t.Errorf("events of %s: %v, want one sale:confirmed", s, got[s])
		}
	}
	if n := e.logCount("work consumer stopped, recreating"); n < 1 {
		t.Errorf("no log of the consumer being recreated")
	}
}

// TestStopWithDeliveriesInFlight stops a pool while slow Pusher calls are in flight: Run
// returns promptly, every call it had started is recorded, and a new pool delivers the
// rest, each decision once.
func TestStopWithDeliveriesInFlight(t *testing.T) {
	e := newEnv(t)
	e.stand.SetLatency(200 * time.Millisecond)
	first := e.start(e.newPool(nil, testConfig()))

	const n = 30
	for i := range n {
		e.enqueue(decision(fmt.Sprintf("s%02d", i), events.Confirmed, 100))
	}
	e.waitEvents(1)
	if took := first.stop(t, 10*time.Second); took > 5*time.Second {
		t.Errorf("Run returned %s after the stop, want under 5s", took)
	}

	e.stand.SetLatency(0)
	e.start(e.newPool(nil, testConfig()))
	e.waitEvents(n)
	e.waitIdle()
	got := delivered(t, e.stand.Events())
	for i := range n {
		s := fmt.Sprintf("s%02d", i)
		if len(got[s]) != 1 {
			t.Errorf("events of %s: %v, want exactly one", s, got[s])
		}
	}
}

// TestStopCutsOffStuckCall: a Pusher call that outlives StopTimeout is cut off. Run still
// returns in time, the claim is released without counting an attempt, and the next start
// delivers the decision at once instead of waiting for the claim's lease to expire.
func TestStopCutsOffStuckCall(t *testing.T) {
	e := newEnv(t)
	e.stand.SetLatency(time.Minute)
	cfg := testConfig()
	cfg.StopTimeout = 200 * time.Millisecond
	first := e.start(e.newPool(nil, cfg))

	e.enqueue(decision("s1", events.Confirmed, 100))
	waitUntil(t, "a call in flight", func() bool { return e.stand.Requests() == 1 })
	if took := first.stop(t, 15*time.Second); took > 5*time.Second {
		t.Errorf("Run returned %s after the stop, want under 5s", took)
	}

	en, _ := e.ledgerEntry("s1")
	if en.Pending != nil || en.Delivered != nil || en.Failures != nil {
		t.Errorf("ledger after the cut-off call: %+v, want no claim, delivery or failure", en)
	}

	e.stand.SetLatency(0)
	e.start(e.newPool(nil, testConfig()))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // well below the lease
	defer cancel()
	if _, err := e.stand.WaitFor(ctx, 1); err != nil {
		t.Fatalf("decision not delivered after the restart: %v", err)
	}
	e.waitIdle()
	if got := len(e.stand.Events()); got != 1 {
		t.Errorf("%d events, want 1", got)
	}
}
