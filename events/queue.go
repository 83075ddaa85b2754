package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Enqueuer stores a decision durably. Every source of decisions depends on this interface
// only, so that one place turns a decision into a queued message.
type Enqueuer interface {
	Enqueue(ctx context.Context, d SaleDecision) (Receipt, error)
}

// Receipt is JetStream's acknowledgement of a stored decision.
type Receipt struct {
	Sequence  uint64 // position in the work stream
	Duplicate bool   // the same message id was already stored within the dedup window
}

// ErrQueueUnavailable wraps every failure to store a decision: the caller must not report
// success, and may try again later.
var ErrQueueUnavailable = errors.New("queue unavailable")

// Queue publishes decisions to the work stream and waits for JetStream's acknowledgement.
// It is safe for concurrent use.
type Queue struct {
	js jetstream.JetStream

	// Timeout bounds one enqueue when ctx has no earlier deadline, default 10 s: below
	// Appwrite's 15 s webhook timeout, so a slow queue answers 503 before Appwrite gives up.
	Timeout time.Duration
}

// NewQueue returns a Queue publishing through js.
func NewQueue(js jetstream.JetStream) *Queue {
	return &Queue{js: js, Timeout: 10 * time.Second}
}

// Enqueue stores d. It returns only after JetStream has stored the message, or with an
// error wrapping [ErrQueueUnavailable].
func (q *Queue) Enqueue(ctx context.Context, d SaleDecision) (Receipt, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return Receipt{}, fmt.Errorf("encode sale %s: %w", d.SaleID, err)
	}
	return q.Publish(ctx, WorkSubject(d.Source), d.MsgID(), data)
}

// Publish stores an already encoded decision under msgID. Replay uses it to requeue a
// dead-lettered message exactly as it was.
func (q *Queue) Publish(ctx context.Context, subject, msgID string, data []byte) (Receipt, error) {
	if q.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.Timeout)
		defer cancel()
	}

	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, msgID)

	ack, err := q.js.PublishMsg(ctx, msg)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: publish %s: %w", ErrQueueUnavailable, msgID, err)
	}
	return Receipt{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
