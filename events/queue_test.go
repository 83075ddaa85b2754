package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/events/broker/brokertest"
)

// openQueueBroker starts an embedded JetStream server in a temporary directory with
// salerelay's streams, closed when the test ends.
func openQueueBroker(t *testing.T) *broker.Broker {
	t.Helper()
	return brokertest.Start(t, events.StreamOptions{})
}

func queuedDecision(saleID string, source events.Source) events.SaleDecision {
	return events.SaleDecision{
		SaleID:       saleID,
		UserID:       "user-1",
		Decision:     events.Rejected,
		Timestamp:    updatedAtMillis,
		Amount:       json.RawMessage("20.5"),
		ProductCount: json.RawMessage("3"),
		Cause:        json.RawMessage(`"rejected_by_operator"`),
		Source:       source,
		ReceivedAt:   updatedAtMillis + 250,
	}
}

func TestQueueEnqueueStoresDecision(t *testing.T) {
	b := openQueueBroker(t)
	q := events.NewQueue(b.JS)
	ctx := context.Background()

	for _, source := range []events.Source{events.SourceWebhook, events.SourcePublisher,
		events.SourceReconcile} {
		t.Run(string(source), func(t *testing.T) {
			d := queuedDecision("sale-"+string(source), source)
			receipt, err := q.Enqueue(ctx, d)
			if err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			if receipt.Duplicate || receipt.Sequence == 0 {
				t.Fatalf("receipt = %+v, want a new message with a sequence", receipt)
			}

			stream, err := b.JS.Stream(ctx, events.WorkStream)
			if err != nil {
				t.Fatalf("open work stream: %v", err)
			}
			msg, err := stream.GetMsg(ctx, receipt.Sequence)
			if err != nil {
				t.Fatalf("get message %d: %v", receipt.Sequence, err)
			}
			if want := "sales.decisions." + string(source); msg.Subject != want {
				t.Errorf("subject = %q, want %q", msg.Subject, want)
			}
			if got := msg.Header.Get(jetstream.MsgIDHeader); got != d.MsgID() {
				t.Errorf("Nats-Msg-Id = %q, want %q", got, d.MsgID())
			}
			var stored events.SaleDecision
			if err := json.Unmarshal(msg.Data, &stored); err != nil {
				t.Fatalf("decode stored decision %s: %v", msg.Data, err)
			}
			if !reflect.DeepEqual(stored, d) {
				t.Errorf("stored decision:\n got %+v\nwant %+v", stored, d)
			}
		})
	}
}

func TestQueueDuplicateWithinWindow(t *testing.T) {
	b := openQueueBroker(t)
	q := events.NewQueue(b.JS)
	ctx := context.Background()

	first, err := q.Enqueue(ctx, queuedDecision("sale-dup", events.SourceWebhook))
	if err != nil {
		t.Fatalf("first Enqueue: %v", err)
	}

	// The same decision again, and the same decision reported by another source.
	for _, source := range []events.Source{events.SourceWebhook, events.SourceReconcile} {
		again, err := q.Enqueue(ctx, queuedDecision("sale-dup", source))
		if err != nil {
			t.Fatalf("Enqueue from %s: %v", source, err)
		}
		if !again.Duplicate {
			t.Errorf("from %s: receipt = %+v, want Duplicate", source, again)
		}
		if again.Sequence != first.Sequence {
			t.Errorf("from %s: sequence = %d, want the original %d", source, again.Sequence,
				first.Sequence)
		}
	}

	later := queuedDecision("sale-dup", events.SourceWebhook)
	later.Timestamp++
	if r, err := q.Enqueue(ctx, later); err != nil || r.Duplicate {
		t.Errorf("a later decision: receipt %+v, err %v; want a new message", r, err)
	}

	if got := workStreamMsgs(t, b.JS); got != 2 {
		t.Errorf("work stream holds %d messages, want 2", got)
	}
}

func TestQueueStoppedServerIsUnavailable(t *testing.T) {
	// A connection that reconnects forever, like salerelay's, to a server that stopped.
	client := brokertest.Unreachable(t)

	q := events.NewQueue(client.JS)
	q.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := q.Enqueue(context.Background(), queuedDecision("sale-down", events.SourceWebhook))
	elapsed := time.Since(start)

	if !errors.Is(err, events.ErrQueueUnavailable) {
		t.Fatalf("Enqueue error = %v, want one wrapping ErrQueueUnavailable", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Enqueue returned after %s, want about its %s timeout", elapsed, q.Timeout)
	}
}

func TestQueueHonoursEarlierDeadline(t *testing.T) {
	q := events.NewQueue(brokertest.Unreachable(t).JS) // 10 s default
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, err := q.Enqueue(short, queuedDecision("sale-deadline", events.SourceWebhook))
	if !errors.Is(err, events.ErrQueueUnavailable) {
		t.Fatalf("Enqueue error = %v, want one wrapping ErrQueueUnavailable", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Enqueue returned after %s, want about the caller's 200ms", elapsed)
	}
}

func workStreamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	stream, err := js.Stream(context.Background(), events.WorkStream)
	if err != nil {
		t.Fatalf("open work stream: %v", err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatalf("work stream info: %v", err)
	}
	return info.State.Msgs
}
