package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/cli"
	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker/dlq"
)

// The delivery guarantees of SPEC §7, shown end to end: signed webhooks into the HTTP
// handler, the embedded JetStream, the worker pool and the Pusher stand-in.

// rigTime is the $updatedAt these tests start from.
var rigTime = time.Date(2026, 11, 20, 15, 4, 5, 123e6, time.UTC)

const rigUser = "698f82750024bfe2dc52"

// rigSaleID is an Appwrite-shaped id (20 hex digits), distinct per test and n.
func rigSaleID(t *testing.T, n int) string {
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	return fmt.Sprintf("%08x%012x", h.Sum32(), n)
}

// TestTransientFailuresRetriedThenDeliveredOnce: Pusher answers 500 three times, then
// accepts. The webhook's decision reaches Pusher once, on the fourth call.
func TestTransientFailuresRetriedThenDeliveredOnce(t *testing.T) {
	r := newDeliveryRig(t, nil, events.StreamOptions{})
	r.pusher.FailNext(3, http.StatusInternalServerError)

	sale := rigSaleID(t, 1)
	r.mustQueue(sale, r.saleBody(sale, rigUser, "VERIFIED", rigTime, 20.5))
	r.waitDelivered(1)
	r.waitIdle()

	if got := r.pusher.Requests(); got != 4 {
		t.Errorf("pusher got %d trigger requests, want 4", got)
	}
	if got := r.eventsBySale()[sale]; !slices.Equal(got, []string{"sale:confirmed"}) {
		t.Errorf("events %v, want one sale:confirmed", got)
	}
	if got := r.metricSum("salerelay_delivery_attempts_total", "outcome", "retried"); got != 3 {
		t.Errorf("%v retries counted, want 3", got)
	}
	if recs := r.deadLetters(); len(recs) != 0 {
		t.Errorf("dead letters %+v, want none", recs)
	}
}

// TestRefusedEventDeadLetteredThenReplayedOnce: Pusher answers 400 for one sale's
// channel. The decision is dead-lettered at once with its reason and class, nothing is
// published; once the cause is fixed, `dlq replay` delivers it once and the record goes.
func TestRefusedEventDeadLetteredThenReplayedOnce(t *testing.T) {
	r := newDeliveryRig(t, nil, events.StreamOptions{})
	channel := r.cfg.PusherSaleChannel + rigUser
	r.pusher.FailChannel(channel, http.StatusBadRequest)

	sale := rigSaleID(t, 1)
	r.mustQueue(sale, r.saleBody(sale, rigUser, "VERIFIED", rigTime, 20.5))
	recs := r.waitDeadLetters(1)
	r.waitIdle()

	rec := recs[0]
	if rec.SaleID != sale || rec.Class != dlq.Permanent || rec.Attempts != 1 ||
		rec.Reason != "pusher refused the event" || !strings.Contains(rec.LastError, "400") {
		t.Errorf("record %+v,\nwant sale %s, class permanent, 1 attempt, reason \"pusher "+
			"refused the event\", last error naming the 400", rec, sale)
	}
	if got := r.pusher.Requests(); got != 1 {
		t.Errorf("pusher got %d requests, want 1 (no retry of a 400)", got)
	}
	if got := len(r.pusher.Events()); got != 0 {
		t.Fatalf("%d events published for a refused decision, want 0", got)
	}

	r.pusher.FailChannel(channel, 0)
	var out, errOut bytes.Buffer
	id := strconv.FormatUint(rec.ID, 10)
	if code := cli.DLQ(t.Context(), r.store(), []string{"replay", id}, &out, &errOut); code != 0 {
		t.Fatalf("dlq replay %s: exit %d, stderr %q", id, code, errOut.String())
	}
	r.waitDelivered(1)
	r.waitIdle()

	if got := r.eventsBySale()[sale]; !slices.Equal(got, []string{"sale:confirmed"}) {
		t.Errorf("events after replay %v, want one sale:confirmed", got)
	}
	if _, err := r.store().Get(t.Context(), rec.ID); !errors.Is(err, dlq.ErrNotFound) {
		t.Errorf("record %d after replay: err %v, want not found", rec.ID, err)
	}
	if recs := r.deadLetters(); len(recs) != 0 {
		t.Errorf("dead letters after replay %+v, want none", recs)
	}
}

// TestWebhookWithInvalidChannelDeadLettered: a real-shaped webhook whose user_id holds a
// space. Appwrite gets its 200 (the request is fine; the data is not), and the decision
// is dead-lettered with a reason naming the channel, without calling Pusher.
func TestWebhookWithInvalidChannelDeadLettered(t *testing.T) {
	r := newDeliveryRig(t, nil, events.StreamOptions{})
	sale, user := rigSaleID(t, 1), "698f8275 0024bfe2dc52"

	r.mustQueue(sale, r.saleBody(sale, user, "VERIFIED", rigTime, 20.5))
	recs := r.waitDeadLetters(1)
	r.waitIdle()

	channel := fmt.Sprintf("%q", r.cfg.PusherSaleChannel+user)
	if rec := recs[0]; rec.SaleID != sale || rec.Class != dlq.Permanent ||
		!strings.Contains(rec.Reason, channel) {
		t.Errorf("record %+v,\nwant sale %s, class permanent, reason naming %s", rec, sale,
			channel)
	}
	if got := r.pusher.Requests(); got != 0 {
		t.Errorf("pusher got %d requests, want 0", got)
	}
}

// TestPusherOutageDeadLettersNothing: Pusher fails every call for a while, webhooks keep
// arriving, and only three attempts are allowed. Delivery pauses and probes, nothing is
// dead-lettered, and after healing every decision is delivered exactly once.
func TestPusherOutageDeadLettersNothing(t *testing.T) {
	tests := []struct {
		name  string
		start func(r *deliveryRig)
	}{
		{"connections refused", func(r *deliveryRig) { r.pusher.RefuseConnections(true) }},
		{"every call 503", func(r *deliveryRig) {
			r.pusher.FailAll(http.StatusServiceUnavailable)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newDeliveryRig(t, func(c *config.Config) { c.MaxAttempts = 3 },
				events.StreamOptions{})
			tt.start(r)

			const before, during = 10, 10
			for i := range before {
				sale := rigSaleID(t, i)
				r.mustQueue(sale, r.saleBody(sale, rigUser, "VERIFIED", rigTime, 20.5))
			}
			r.waitFor("delivery paused", func() bool {
				return r.metricSum("salerelay_delivery_paused") == 1 ||
					len(r.deadLetters()) > 0
			})
			for i := before; i < before+during; i++ {
				sale := rigSaleID(t, i)
				r.mustQueue(sale, r.saleBody(sale, rigUser, "VERIFIED", rigTime, 20.5))
			}
			r.waitFor("two failed probes", func() bool { return r.pusher.Probes() >= 2 })
			if recs := r.deadLetters(); len(recs) != 0 {
				t.Fatalf("dead-lettered during the outage: %+v", recs)
			}

			r.pusher.Heal()
			r.waitDelivered(before + during)
			r.waitIdle()

			got := r.eventsBySale()
			for i := range before + during {
				if names := got[rigSaleID(t, i)]; !slices.Equal(names, []string{"sale:confirmed"}) {
					t.Errorf("sale %d: events %v, want one sale:confirmed", i, names)
				}
			}
			if recs := r.deadLetters(); len(recs) != 0 {
				t.Errorf("dead letters after the outage: %+v", recs)
			}
			if got := r.metricSum("salerelay_delivery_paused"); got != 0 {
				t.Errorf("salerelay_delivery_paused %v after healing, want 0", got)
			}
			if r.logLines("pusher outage: delivery paused, probing") == 0 ||
				r.logLines("pusher answers again: delivery resumed") == 0 {
				t.Errorf("logs lack the pause and resume lines")
			}
		})
	}
}

// TestOneEventPerDecision reports one decision in the ways SPEC §7.2 lists and expects
// one event each time. Every report beyond the first is accounted for: JetStream's dedup
// (the webhook answers "duplicate") or the ledger (salerelay_duplicates_suppressed_total).
func TestOneEventPerDecision(t *testing.T) {
	// A short dedup window, so that a report past it is stored again and only the
	// ledger can catch it.
	r := newDeliveryRig(t, nil, events.StreamOptions{Duplicates: 100 * time.Millisecond})

	tests := []struct {
		name string
		// report sends the later reports of sale's decision, already delivered once from
		// body, and returns how many it made.
		report func(sale string, body []byte) int
	}{
		{"same webhook three times", func(sale string, body []byte) int {
			r.sendCounting(sale, body)
			r.sendCounting(sale, body)
			return 2
		}},
		{"later edit keeping the state", func(sale string, _ []byte) int {
			// Another field changed, a newer $updatedAt and so a new signature.
			edit := r.saleBody(sale, rigUser, "VERIFIED", rigTime.Add(time.Minute), 99)
			r.mustQueue(sale, edit)
			return 1
		}},
		{"same decision past the dedup window", func(sale string, body []byte) int {
			reports := 0
			r.waitFor("the same report stored again", func() bool {
				reports++
				return r.sendCounting(sale, body)
			})
			return reports
		}},
		{"replay of a delivered event", func(sale string, body []byte) int {
			r.replayOriginal(body)
			return 1
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sale := rigSaleID(t, i)
			body := r.saleBody(sale, rigUser, "VERIFIED", rigTime, 20.5)
			r.mustQueue(sale, body)
			r.waitFor("the first delivery", func() bool { return len(r.eventsBySale()[sale]) == 1 })
			r.waitIdle()

			dedupBefore := r.webhookDuplicates
			ledgerBefore := r.metricSum("salerelay_duplicates_suppressed_total")
			reports := tt.report(sale, body)
			r.waitIdle()

			if got := r.eventsBySale()[sale]; !slices.Equal(got, []string{"sale:confirmed"}) {
				t.Errorf("events %v, want one sale:confirmed", got)
			}
			byDedup := r.webhookDuplicates - dedupBefore
			byLedger := int(r.metricSum("salerelay_duplicates_suppressed_total") - ledgerBefore)
			if byDedup+byLedger != reports {
				t.Errorf("%d later reports, but %d dropped by JetStream dedup and %d by the "+
					"ledger", reports, byDedup, byLedger)
			}
			t.Logf("%d later reports: %d dropped by JetStream dedup, %d by the ledger",
				reports, byDedup, byLedger)
		})
	}
}

// TestNewestDecisionWins sends decisions about one sale one after another, each
// processed before the next, and checks what reaches Pusher: an older decision than the
// delivered one is dropped and counted, a newer different one is published.
func TestNewestDecisionWins(t *testing.T) {
	r := newDeliveryRig(t, nil, events.StreamOptions{})
	type report struct {
		state   string
		minutes int // $updatedAt after rigTime
	}
	tests := []struct {
		name      string
		reports   []report
		want      []string
		wantStale int
	}{
		{"rejection delivered before the older confirmation",
			[]report{{"DELETED", 2}, {"VERIFIED", 1}},
			[]string{"sale:rejected"}, 1},
		{"newer confirmation after that rejection",
			[]report{{"DELETED", 2}, {"VERIFIED", 1}, {"VERIFIED", 3}},
			[]string{"sale:rejected", "sale:confirmed"}, 1},
		{"edit keeping the confirmation, then an older rejection",
			[]report{{"VERIFIED", 1}, {"VERIFIED", 3}, {"DELETED", 2}},
			[]string{"sale:confirmed"}, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sale := rigSaleID(t, i)
			staleBefore := r.metricSum("salerelay_stale_decisions_total")
			for _, rep := range tt.reports {
				updated := rigTime.Add(time.Duration(rep.minutes) * time.Minute)
				r.mustQueue(sale, r.saleBody(sale, rigUser, rep.state, updated, 20.5))
				r.waitIdle()
			}

			if got := r.eventsBySale()[sale]; !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			if got := int(r.metricSum("salerelay_stale_decisions_total") - staleBefore); got != tt.wantStale {
				t.Errorf("%d stale decisions counted, want %d", got, tt.wantStale)
			}
		})
	}
}

// TestWebhooksDeliveredAfterConsumerDeleted deletes the durable work consumer under the
// running app: the pool recreates it, and later webhooks are delivered.
func TestWebhooksDeliveredAfterConsumerDeleted(t *testing.T) {
	r := newDeliveryRig(t, nil, events.StreamOptions{})
	first, second := rigSaleID(t, 1), rigSaleID(t, 2)
	r.mustQueue(first, r.saleBody(first, rigUser, "VERIFIED", rigTime, 20.5))
	r.waitDelivered(1)
	r.waitIdle()

	js := r.app.broker.JS
	if err := js.DeleteConsumer(t.Context(), events.WorkStream, events.WorkConsumer); err != nil {
		t.Fatalf("delete the work consumer: %v", err)
	}
	r.mustQueue(second, r.saleBody(second, rigUser, "VERIFIED", rigTime, 20.5))
	r.waitDelivered(2)
	r.waitIdle()

	got := r.eventsBySale()
	for _, sale := range []string{first, second} {
		if !slices.Equal(got[sale], []string{"sale:confirmed"}) {
			t.Errorf("events of %s: %v, want one sale:confirmed", sale, got[sale])
		}
	}
	r.waitFor("/readyz 200", func() bool {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// TestGracefulStopWithDeliveriesInFlight cancels App.Run while slow Pusher calls are in
// flight: it returns promptly, and a new start on the same data delivers the rest, each
// decision once.
func TestGracefulStopWithDeliveriesInFlight(t *testing.T) {
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	pusher := newStandInFor(t, &cfg)
	pusher.SetLatency(300 * time.Millisecond)

	r := &deliveryRig{stack: startStack(t, cfg, pusher, events.StreamOptions{}), fx: fx}
	const n = 20
	for i := range n {
		sale := rigSaleID(t, i)
		r.mustQueue(sale, r.saleBody(sale, rigUser, "VERIFIED", rigTime, 20.5))
	}
	r.waitDelivered(1)

	started := time.Now()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		r.done <- nil // for the cleanup's shutdown
	case <-time.After(rigLimit):
		t.Fatalf("Run still running %s after the stop", rigLimit)
	}
	took := time.Since(started)
	t.Logf("App.Run returned %s after the stop, %d of %d events delivered", took,
		len(pusher.Events()), n)
	if took > 5*time.Second {
		t.Errorf("App.Run took %s to return, want under 5s", took)
	}

	pusher.SetLatency(0)
	again := &deliveryRig{stack: startStack(t, cfg, pusher, events.StreamOptions{}), fx: fx}
	again.waitDelivered(n)
	again.waitIdle()
	got := again.eventsBySale()
	for i := range n {
		if names := got[rigSaleID(t, i)]; len(names) != 1 {
			t.Errorf("sale %d: events %v, want exactly one", i, names)
		}
	}
}

// sendCounting sends a webhook that must be answered 200 and reports whether it was
// queued; an answer "duplicate" is counted in webhookDuplicates.
func (r *deliveryRig) sendCounting(sale string, body []byte) (queued bool) {
	r.t.Helper()
	status, answer := r.sendWebhook(sale, body)
	switch {
	case status == http.StatusOK && answer["queued"] == true:
		return true
	case status == http.StatusOK && answer["ignored"] == "duplicate":
		r.webhookDuplicates++
		return false
	default:
		r.t.Fatalf("webhook for %s answered %d %v, want 200", sale, status, answer)
		return false
	}
}

// replayOriginal stores the decision body carries as a dead-letter record holding the
// queued message byte for byte, as the worker would, and replays it.
func (r *deliveryRig) replayOriginal(body []byte) {
	r.t.Helper()
	doc, err := events.ParseDocument(body)
	if err != nil {
		r.t.Fatalf("parse body: %v", err)
	}
	d, err := r.cfg.Mapping().Decide(doc, time.Now())
	if err != nil {
		r.t.Fatalf("decide: %v", err)
	}
	d.Source, d.ReceivedAt = events.SourceWebhook, time.Now().UnixMilli()
	data, err := json.Marshal(d)
	if err != nil {
		r.t.Fatalf("encode decision: %v", err)
	}

	id, err := r.store().Add(r.t.Context(), dlq.Record{
		SaleID: d.SaleID, UserID: d.UserID, Decision: d.Decision,
		Reason: "retries exhausted", Class: dlq.Exhausted, Attempts: 3,
		FirstFailedAt: time.Now(), LastFailedAt: time.Now(),
		Subject: events.WorkSubject(d.Source), MsgID: d.MsgID(), Data: data, Event: &d,
	})
	if err != nil {
		r.t.Fatalf("add dead-letter record: %v", err)
	}
	if err := r.store().Replay(r.t.Context(), id); err != nil {
		r.t.Fatalf("replay record %d: %v", id, err)
	}
}
