package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker/dlq"
)

// TestOutageSpendsNoAttempts: while Pusher is down, a decision retried on its own with
// short delays and only three attempts allowed must not be dead-lettered: its failures
// are an outage, not its fault. Once Pusher answers again it is delivered once.
func TestOutageSpendsNoAttempts(t *testing.T) {
	tests := []struct {
		name   string
		outage func(e *env)
	}{
		{"connections refused", func(e *env) { e.stand.RefuseConnections(true) }},
		{"every call 503", func(e *env) { e.stand.FailAll(http.StatusServiceUnavailable) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := testConfig()
			cfg.MaxAttempts = 3
			r := e.start(e.newPool(nil, cfg))

			tt.outage(e)
			e.enqueue(decision("s1", events.Confirmed, 100))

			// Far more calls than attempts allowed: the probes the gate makes while closed.
			waitUntil(t, "the outage gate closed or a dead letter", func() bool {
				return r.outage.isOpen() || len(e.deadLetters()) > 0
			})
			if recs := e.deadLetters(); len(recs) != 0 {
				t.Fatalf("dead-lettered during the outage: %+v", recs)
			}
			waitUntil(t, "several failed probes", func() bool { return e.stand.Probes() >= 4 })
			if recs := e.deadLetters(); len(recs) != 0 {
				t.Fatalf("dead-lettered during the outage: %+v", recs)
			}
			if en, _ := e.ledgerEntry("s1"); en.Failures["s1.confirmed.100"].Attempts >= 3 {
				t.Errorf("attempts counted during the outage: %+v", en.Failures)
			}

			e.stand.Heal()
			e.waitEvents(1)
			e.waitIdle()
			waitUntil(t, "the outage gate open", func() bool { return !r.outage.isOpen() })
			if got := delivered(t, e.stand.Events()); !slices.Equal(got["s1"],
				[]string{"sale:confirmed"}) {
				t.Errorf("events of s1: %v, want one sale:confirmed", got["s1"])
			}
			if recs := e.deadLetters(); len(recs) != 0 {
				t.Errorf("dead letters after the outage: %+v", recs)
			}
			if n := e.logCount("pusher answers again: delivery resumed"); n != 1 {
				t.Errorf("%d resume logs, want 1", n)
			}
		})
	}
}

// TestExhaustedRetriesDeadLettered: one channel answers 500 every time while other
// sales are delivered. Its decision is dead-lettered as exhausted after MaxAttempts,
// and the failures of one channel among successes never pause delivery.
func TestExhaustedRetriesDeadLettered(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig()
	cfg.MaxAttempts = 3
	cfg.MaxBatch = 1 // each call holds one event, so the bad one fails alone
	e.start(e.newPool(nil, cfg))
	e.stand.FailChannel(testPrefix+"user-bad", 500)

	e.enqueue(decision("bad", events.Confirmed, 100))
	const good = 10
	for i := range good {
		e.enqueue(decision(fmt.Sprintf("good%02d", i), events.Confirmed, 100))
	}

	waitUntil(t, "a dead-letter record", func() bool { return len(e.deadLetters()) == 1 })
	e.waitEvents(good)
	e.waitIdle()

	rec := e.deadLetters()[0]
	want := dlq.Record{SaleID: "bad", Class: dlq.Exhausted, Attempts: 3,
		Reason: "retries exhausted", LastError: "pusher answered 500: Internal Server Error"}
	if rec.SaleID != want.SaleID || rec.Class != want.Class || rec.Attempts != want.Attempts ||
		rec.Reason != want.Reason || rec.LastError != want.LastError {
		t.Errorf("record %+v,\nwant sale %s class %s attempts %d reason %q last error %q", rec,
			want.SaleID, want.Class, want.Attempts, want.Reason, want.LastError)
	}
	if rec.FirstFailedAt.After(rec.LastFailedAt) || rec.FirstFailedAt.IsZero() {
		t.Errorf("failure times first %s last %s", rec.FirstFailedAt, rec.LastFailedAt)
	}
	if got := len(e.stand.Events()); got != good {
		t.Errorf("%d events, want %d (the good sales only)", got, good)
	}
	if n := e.logCount("pusher outage: delivery paused, probing"); n != 0 {
		t.Errorf("delivery paused %d times for one failing channel, want never", n)
	}
	if en, _ := e.ledgerEntry("bad"); en.Failures != nil || en.Pending != nil {
		t.Errorf("ledger of the dead-lettered sale: %+v, want its failure forgotten", en)
	}
}

// TestOutageWaitHonoursCancelledContext: while Pusher is up, a stopping worker must still
// be told to stop, every time, not at select's whim.
func TestOutageWaitHonoursCancelledContext(t *testing.T) {
	o := newOutage(func(context.Context) error { return nil }, slog.New(slog.DiscardHandler),
		func(bool) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	for i := range 200 {
		if err := o.wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("call %d: wait() = %v, want context.Canceled", i, err)
		}
	}
	if err := o.wait(context.Background()); err != nil {
		t.Errorf("wait() with a live context and Pusher up = %v, want nil", err)
	}
}
