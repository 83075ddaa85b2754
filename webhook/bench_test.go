package webhook_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/webhook"
)

const (
	benchURL = "https://relay.example.com/webhooks/appwrite"
	benchKey = "fixture-signing-key-7f3a9c2e"

	// benchBody is the shared fixture v18-update-verified.json.
	benchBody = `{"$id":"69c9593b002b167bf4fb","date":"2026-11-20","currency":"USD",` +
		`"buy_state":"VERIFIED","products":"[{\"productId\":\"p-1001\",\"productName\":` +
		`\"Filtro de aceite\",\"quantity\":2,\"price\":5.25},{\"productId\":\"p-2002\",` +
		`\"productName\":\"Bujia\",\"quantity\":1,\"price\":6.0},{\"productId\":\"p-3003\",` +
		`\"productName\":\"Junta\",\"quantity\":1,\"price\":4.0}]","user_id":` +
		`"698f82750024bfe2dc52","delivery_type":"PICKUP","delivery_address":null,` +
		`"sale_type":"NORMAL","stock_hold_applied":true,"amount":20.5,"$sequence":17,` +
		`"$createdAt":"2026-11-20T14:58:41.902+00:00","$updatedAt":` +
		`"2026-11-20T15:04:05.123+00:00","$permissions":["read(\"user:698f82750024bfe2dc52\")",` +
		`"update(\"user:698f82750024bfe2dc52\")"],"$databaseId":"shop","$collectionId":"sales"}`

	benchEvents = "databases.shop.collections.sales.documents.69c9593b002b167bf4fb.update," +
		"databases.shop.tables.sales.rows.69c9593b002b167bf4fb.update," +
		"databases.*.collections.*.documents.*.update,databases.*.tables.*.rows.*.update"
)

// BenchmarkSignatureVerify is the HMAC-SHA1 check of one real-shaped webhook body.
func BenchmarkSignatureVerify(b *testing.B) {
	body := []byte(benchBody)
	signer := webhook.NewSigner(benchURL, benchKey)
	sig := signer.Sign(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := signer.Verify(sig, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAndDecode is the CPU work between reading a webhook body and handing
// its decision to the queue: signature, document decode, mapping.
func BenchmarkVerifyAndDecode(b *testing.B) {
	body := []byte(benchBody)
	signer := webhook.NewSigner(benchURL, benchKey)
	sig := signer.Sign(body)
	m := events.DefaultMapping()
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := signer.Verify(sig, body); err != nil {
			b.Fatal(err)
		}
		doc, err := events.ParseDocument(body)
		if err != nil {
			b.Fatal(err)
		}
		if webhook.ParseAction(benchEvents) != webhook.ActionUpdate {
			b.Fatal("not an update")
		}
		if _, err := m.Decide(doc, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandler runs the whole handler with a queue that stores nothing: the
// webhook path's own cost, without the network and JetStream. With log=info each
// webhook also writes its "webhook queued" line (to io.Discard).
func BenchmarkHandler(b *testing.B) {
	body := []byte(benchBody)
	sig := webhook.NewSigner(benchURL, benchKey).Sign(body)
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelInfo} {
		b.Run("log="+level.String(), func(b *testing.B) {
			log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
			h := webhook.New(webhook.Config{URL: benchURL, SignatureKey: benchKey,
				DatabaseID: "shop", CollectionID: "sales", Mapping: events.DefaultMapping(),
			}, nopQueue{}, log, nil)

			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/webhooks/appwrite",
					bytes.NewReader(body))
				req.Header.Set("X-Appwrite-Webhook-Signature", sig)
				req.Header.Set("X-Appwrite-Webhook-Events", benchEvents)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d, want 200: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// nopQueue accepts every decision without storing it.
type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, events.SaleDecision) (events.Receipt, error) {
	return events.Receipt{Sequence: 1}, nil
}
