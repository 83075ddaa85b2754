package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/webhook"
)

// TestBenchWebhooksAreQueuedSales checks that what the bench sends is what salerelay
// treats as a real sale decision: signed, an update of the configured collection, and
// a confirmation with the payload values of the fixture.
func TestBenchWebhooksAreQueuedSales(t *testing.T) {
	const url, key = "https://relay.example.com/webhooks/appwrite", "k"
	queue := &recordingQueue{}
	h := webhook.New(webhook.Config{URL: url, SignatureKey: key, DatabaseID: benchDatabase,
		CollectionID: benchCollection, Mapping: events.DefaultMapping(),
	}, queue, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)

	f := salesFactory{runTag: "abc123", signer: webhook.NewSigner(url, key)}
	sales := f.make('a', 3)
	for _, s := range sales {
		if len(s.id) != 20 || !strings.HasPrefix(s.id, f.prefix('a')) {
			t.Errorf("sale id %q: want 20 characters starting with %q", s.id, f.prefix('a'))
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/appwrite", bytes.NewReader(s.body))
		req.Header = s.header()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"queued":true`) {
			t.Fatalf("sale %s answered %d %s, want 200 queued", s.id, w.Code, w.Body)
		}
	}

	if len(queue.got) != len(sales) {
		t.Fatalf("queued %d decisions, want %d", len(queue.got), len(sales))
	}
	d := queue.got[2]
	if d.SaleID != sales[2].id || d.Decision != events.Confirmed ||
		string(d.Amount) != "20.5" || string(d.ProductCount) != "4" {
		t.Errorf("decision %+v: want sale %s confirmed, amount 20.5, 4 products", d, sales[2].id)
	}
	if i, ok := phaseIndex(payloadOf(t, d), f.prefix('a'), len(sales)); !ok || i != 2 {
		t.Errorf("phaseIndex of sale 2's payload = %d, %v; want 2, true", i, ok)
	}
}

func TestEventsHeaderListsEveryScope(t *testing.T) {
	list := strings.Split(eventsHeader("shop", "sales", "s1", "update"), ",")
	if len(list) != 42 {
		t.Errorf("got %d events, want the 42 Appwrite 1.8 sends", len(list))
	}
	if want := "databases.shop.collections.sales.documents.s1.update"; list[0] != want {
		t.Errorf("first event %q, want %q", list[0], want)
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := latencies{n: 100, p50: 50 * time.Millisecond, p90: 90 * time.Millisecond,
		p99: 99 * time.Millisecond, max: 100 * time.Millisecond,
		avg: 50500 * time.Microsecond}
	if got != want {
		t.Errorf("summarize(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (latencies{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

// recordingQueue keeps what the handler enqueues.
type recordingQueue struct{ got []events.SaleDecision }

func (q *recordingQueue) Enqueue(_ context.Context, d events.SaleDecision) (events.Receipt, error) {
	q.got = append(q.got, d)
	return events.Receipt{Sequence: uint64(len(q.got))}, nil
}

func payloadOf(t *testing.T, d events.SaleDecision) string {
	t.Helper()
	raw, err := json.Marshal(d.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
