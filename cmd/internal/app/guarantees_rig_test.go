package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/webhook"
	"github.com/salerelay/salerelay/worker/dlq"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// deliveryRig drives one in-process salerelay for the delivery-guarantee tests (SPEC
// §7): it sends real-shaped, signed Appwrite webhooks and reads what reached the Pusher
// stand-in, the dead-letter stream and the metrics.
type deliveryRig struct {
	*stack
	fx *fixtureSet

	webhookDuplicates int // webhooks answered "duplicate" (JetStream dedup), by sendCounting
}

// rigLimit bounds every wait of these tests; a healthy run needs a fraction of it.
const rigLimit = 30 * time.Second

// newDeliveryRig starts a stack on the fixtures' configuration, adjusted by tune.
func newDeliveryRig(t *testing.T, tune func(*config.Config), streams events.StreamOptions) *deliveryRig {
	t.Helper()
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	if tune != nil {
		tune(&cfg)
	}
	r := &deliveryRig{stack: startStack(t, cfg, nil, streams), fx: fx}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("salerelay logs:\n%s", r.logs.String())
		}
	})
	return r
}

// saleBody is a sale document as Appwrite 1.8 sends it in a webhook body.
func (r *deliveryRig) saleBody(id, user, state string, updated time.Time, amount float64) []byte {
	t := r.t
	t.Helper()
	doc := map[string]any{
		"$id": id, "buy_state": state, "user_id": user, "amount": amount,
		"date": "2026-11-20", "currency": "USD", "delivery_type": "PICKUP",
		"products":     `[{"productId":"p-1001","productName":"Filtro de aceite","quantity":2,"price":5.25}]`,
		"$sequence":    17,
		"$createdAt":   updated.Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000-07:00"),
		"$updatedAt":   updated.UTC().Format("2006-01-02T15:04:05.000-07:00"),
		"$permissions": []string{`read("user:` + user + `")`},
		"$databaseId":  "shop", "$collectionId": "sales",
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("encode sale: %v", err)
	}
	return body
}

// sendWebhook posts body as Appwrite does for an update of saleID, signed with the
// fixtures' key, and returns the status and answer.
func (r *deliveryRig) sendWebhook(saleID string, body []byte) (int, map[string]any) {
	r.t.Helper()
	names := fmt.Sprintf("databases.shop.collections.sales.documents.%[1]s.update,"+
		"databases.shop.tables.sales.rows.%[1]s.update,databases.*.collections.*.documents.*",
		saleID)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Appwrite-Server v1.8.1. Please report abuse at security@appwrite.io")
	h.Set("X-Appwrite-Webhook-Id", "wh_sales_01")
	h.Set("X-Appwrite-Webhook-Events", names)
	h.Set("X-Appwrite-Webhook-Project-Id", "alejo-taller")
	h.Set("X-Appwrite-Webhook-Signature",
		webhook.NewSigner(r.fx.WebhookURL, r.fx.SignatureKey).Sign(body))
	return r.post("/webhooks/appwrite", body, h)
}

// mustQueue sends a webhook and fails unless it was answered 200 and queued.
func (r *deliveryRig) mustQueue(saleID string, body []byte) {
	r.t.Helper()
	status, answer := r.sendWebhook(saleID, body)
	if status != http.StatusOK || answer["queued"] != true {
		r.t.Fatalf("webhook for %s answered %d %v, want 200 queued", saleID, status, answer)
	}
}

// eventsBySale groups the stand-in's events by sale id: the event names in arrival
// order.
func (r *deliveryRig) eventsBySale() map[string][]string {
	r.t.Helper()
	out := map[string][]string{}
	for _, ev := range r.pusher.Events() {
		var p events.Payload
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			r.t.Fatalf("event data %q: %v", ev.Data, err)
		}
		out[p.SaleID] = append(out[p.SaleID], ev.Name)
	}
	return out
}

func (r *deliveryRig) store() *dlq.Store { return dlq.NewStore(r.app.broker.JS) }

func (r *deliveryRig) deadLetters() []dlq.Record {
	r.t.Helper()
	recs, err := r.store().List(r.t.Context(), dlq.Filter{})
	if err != nil {
		r.t.Fatalf("list dead letters: %v", err)
	}
	return recs
}

// waitDeadLetters polls until the dead-letter stream holds n records and returns them.
func (r *deliveryRig) waitDeadLetters(n int) []dlq.Record {
	r.t.Helper()
	var recs []dlq.Record
	r.waitFor(fmt.Sprintf("%d dead-letter records", n), func() bool {
		recs = r.deadLetters()
		return len(recs) >= n
	})
	return recs
}

// waitDelivered waits for n events on the stand-in.
func (r *deliveryRig) waitDelivered(n int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), rigLimit)
	defer cancel()
	if _, err := r.pusher.WaitFor(ctx, n); err != nil {
		r.t.Fatalf("%v", err)
	}
}

// waitFor polls cond every 10 ms until it holds, failing the test after rigLimit.
func (r *deliveryRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(rigLimit)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("still waiting for %s after %s", what, rigLimit)
		}
		select {
		case <-r.t.Context().Done():
			r.t.Fatalf("test ended while waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// metricSum adds up every series of the named metric (counter or gauge) in the app's
// registry.
func (r *deliveryRig) metricSum(name string, labels ...string) float64 {
	r.t.Helper()
	fams, err := r.app.registry.Gather()
	if err != nil {
		r.t.Fatalf("gather metrics: %v", err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// logLines counts log lines whose msg is msg.
func (r *deliveryRig) logLines(msg string) int {
	return strings.Count(r.logs.String(), fmt.Sprintf(`"msg":%q`, msg))
}

// newStandInFor returns a started Pusher stand-in for cfg's credentials and points cfg
// at it.
func newStandInFor(t *testing.T, cfg *config.Config) *pusherlocal.Server {
	t.Helper()
	srv := pusherlocal.New(pusherlocal.Config{
		AppID: cfg.PusherAppID, Key: cfg.PusherKey, Secret: cfg.PusherSecret,
	})
	host, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start pusher stand-in: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg.PusherHost = host
	return srv
}
