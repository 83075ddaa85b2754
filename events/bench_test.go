package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
)

// benchBody is the shared fixture v18-update-verified.json: a real-shaped Appwrite 1.8
// sale document that confirms a sale.
const benchBody = `{"$id":"69c9593b002b167bf4fb","date":"2026-11-20","currency":"USD",` +
	`"buy_state":"VERIFIED","products":"[{\"productId\":\"p-1001\",\"productName\":` +
	`\"Filtro de aceite\",\"quantity\":2,\"price\":5.25},{\"productId\":\"p-2002\",` +
	`\"productName\":\"Bujia\",\"quantity\":1,\"price\":6.0},{\"productId\":\"p-3003\",` +
	`\"productName\":\"Junta\",\"quantity\":1,\"price\":4.0}]","user_id":` +
	`"698f82750024bfe2dc52","delivery_type":"PICKUP","delivery_address":null,` +
	`"sale_type":"NORMAL","stock_hold_applied":true,"amount":20.5,"$sequence":17,` +
	`"$createdAt":"2026-11-20T14:58:41.902+00:00","$updatedAt":` +
	`"2026-11-20T15:04:05.123+00:00","$permissions":["read(\"user:698f82750024bfe2dc52\")",` +
	`"update(\"user:698f82750024bfe2dc52\")"],"$databaseId":"shop","$collectionId":"sales"}`

// BenchmarkMappingDecide is the webhook's domain step: a raw body to a SaleDecision.
func BenchmarkMappingDecide(b *testing.B) {
	body := []byte(benchBody)
	m := events.DefaultMapping()
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		doc, err := events.ParseDocument(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Decide(doc, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecisionRoundTrip is what one decision costs around the queue: encoded by
// the webhook (Enqueue), decoded by the worker, turned into the Pusher event.
func BenchmarkDecisionRoundTrip(b *testing.B) {
	doc, err := events.ParseDocument([]byte(benchBody))
	if err != nil {
		b.Fatal(err)
	}
	d, err := events.DefaultMapping().Decide(doc, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	d.Source, d.ReceivedAt = events.SourceWebhook, time.Now().UnixMilli()

	b.ReportAllocs()
	for b.Loop() {
		data, err := json.Marshal(d)
		if err != nil {
			b.Fatal(err)
		}
		_ = d.MsgID()

		var got events.SaleDecision
		if err := json.Unmarshal(data, &got); err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := got.Event("sale-verification-"); err != nil {
			b.Fatal(err)
		}
	}
}
