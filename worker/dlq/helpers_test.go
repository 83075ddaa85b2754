package dlq

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/events/broker/brokertest"
)

// newTestStore starts an embedded JetStream server in a temporary directory, creates
// salerelay's streams and returns a Store on it with the JetStream handle behind it.
func newTestStore(t *testing.T) (*Store, jetstream.JetStream) {
	t.Helper()
	b := newTestBroker(t)
	return NewStore(b.JS), b.JS
}

// newTestBroker starts an embedded JetStream server with salerelay's streams; it is closed
// when the test ends.
func newTestBroker(t *testing.T) *broker.Broker {
	t.Helper()
	return brokertest.Start(t, events.StreamOptions{})
}

// baseTime is the failure time of test records: fixed, so that output can be compared.
var baseTime = time.Date(2025, 11, 3, 10, 16, 5, 0, time.UTC)

// testRecord is a dead-letter record for sale saleID whose original message had work
// stream sequence originalSeq. Its Data is the encoded decision, as the worker stores it.
func testRecord(t *testing.T, originalSeq uint64, saleID string, class Class) Record {
	t.Helper()
	d := events.SaleDecision{
		SaleID:     saleID,
		UserID:     "user-" + saleID,
		Decision:   events.Confirmed,
		Timestamp:  baseTime.UnixMilli(),
		Amount:     json.RawMessage("20.5"),
		Source:     events.SourceWebhook,
		ReceivedAt: baseTime.UnixMilli(),
	}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("encode decision: %v", err)
	}
	return Record{
		SaleID:        saleID,
		UserID:        d.UserID,
		Decision:      d.Decision,
		Reason:        "pusher answered 400",
		Class:         class,
		Attempts:      1,
		LastError:     "Status Code: 400 - invalid channel",
		FirstFailedAt: baseTime,
		LastFailedAt:  baseTime,
		Subject:       events.WorkSubject(d.Source),
		MsgID:         d.MsgID(),
		OriginalSeq:   originalSeq,
		Data:          data,
		Event:         &d,
	}
}

// mustAdd stores rec and returns its id.
func mustAdd(t *testing.T, s *Store, rec Record) uint64 {
	t.Helper()
	id, err := s.Add(t.Context(), rec)
	if err != nil {
		t.Fatalf("Add(sale %s): %v", rec.SaleID, err)
	}
	return id
}

// workMessages returns every message on the work stream, oldest first.
func workMessages(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	return brokertest.RawWork(t, js)
}

// saleIDs lists the sale ids of records, in order.
func saleIDs(records []Record) []string {
	ids := []string{}
	for _, r := range records {
		ids = append(ids, r.SaleID)
	}
	return ids
}
