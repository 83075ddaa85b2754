package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
)

// ErrNotFound is returned for an id that names no record.
var ErrNotFound = errors.New("dead-letter record not found")

// Store reads and writes the dead-letter stream. It is safe for concurrent use.
type Store struct {
	js jetstream.JetStream
}

// NewStore returns a Store on js. The stream must exist ([events.EnsureStreams]).
func NewStore(js jetstream.JetStream) *Store { return &Store{js: js} }

// Add stores rec and returns its id. The message id is derived from the original message's
// sequence, so a worker that crashes after Add and redelivers the original stores one
// record, not two. A record with no OriginalSeq is never deduplicated.
func (s *Store) Add(ctx context.Context, rec Record) (uint64, error) {
	rec.ID = 0
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encode dead-letter record: %w", err)
	}

	msg := nats.NewMsg(events.DeadLetterSubjectPrefix + string(rec.Class))
	msg.Data = data
	// Without the original's sequence there is nothing to dedup on: a shared "dlq.0" id
	// would silently merge unrelated records within the stream's one-hour window.
	if rec.OriginalSeq != 0 {
		msg.Header.Set(jetstream.MsgIDHeader, "dlq."+strconv.FormatUint(rec.OriginalSeq, 10))
	}

	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return 0, fmt.Errorf("store dead-letter record for sale %s: %w", rec.SaleID, err)
	}
	return ack.Sequence, nil
}

// Get returns the record id, or an error wrapping [ErrNotFound] when there is none.
func (s *Store) Get(ctx context.Context, id uint64) (Record, error) {
	if id == 0 {
		return Record{}, fmt.Errorf("record 0: %w", ErrNotFound) // sequences start at 1
	}

	stream, err := s.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return Record{}, fmt.Errorf("open dead-letter stream: %w", err)
	}
	raw, err := stream.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Record{}, fmt.Errorf("record %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("read record %d: %w", id, err)
	}
	return decode(id, raw.Data)
}

// Filter narrows List and ReplayAll. The zero value matches every record.
type Filter struct {
	Since time.Time // only records whose last failure is at or after Since
	Class Class     // only this class, when set
}

func (f Filter) match(r Record) bool {
	if !f.Since.IsZero() && r.LastFailedAt.Before(f.Since) {
		return false
	}
	return f.Class == "" || r.Class == f.Class
}

// listBatch is how many records one read of the dead-letter stream asks for.
const listBatch = 256

// List returns the records matching f, oldest first; an empty, non-nil slice when none do.
// It reads the stream through a temporary consumer that it deletes on return.
func (s *Store) List(ctx context.Context, f Filter) ([]Record, error) {
	stream, err := s.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return []Record{}, nil
	}

	// InactiveThreshold removes the consumer should the deletion below fail.
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("read dead-letter stream: %w", err)
	}
	defer deleteConsumer(ctx, stream, cons)

	records := []Record{}
	for {
		read, err := readBatch(cons, f, &records)
		if err != nil {
			return nil, err
		}
		if read == 0 {
			return records, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read dead-letter stream: %w", err)
		}
	}
}

// readBatch appends the records of the next batch that match f and returns how many
// messages it read. The server answers at once, with zero messages at the end.
func readBatch(cons jetstream.Consumer, f Filter, records *[]Record) (int, error) {
	batch, err := cons.FetchNoWait(listBatch)
	if err != nil {
		return 0, fmt.Errorf("read dead-letter stream: %w", err)
	}

	read := 0
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			return 0, fmt.Errorf("read dead-letter metadata: %w", err)
		}
		rec, err := decode(meta.Sequence.Stream, msg.Data())
		if err != nil {
			return 0, err
		}
		if f.match(rec) {
			*records = append(*records, rec)
		}
		read++
	}
	if err := batch.Error(); err != nil {
		return 0, fmt.Errorf("read dead-letter stream: %w", err)
	}
	return read, nil
}

func deleteConsumer(ctx context.Context, stream jetstream.Stream, cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = stream.DeleteConsumer(ctx, cons.CachedInfo().Name) // expires on its own otherwise
}

// Replay puts record id back on the work stream and then deletes it. The requeued message
// gets a new message id (the old one may still sit in the dedup window), derived from the
// record id so that two replays of the same record store it once. It returns an error
// wrapping [ErrNotFound] for an unknown id; a record removed by someone else after it was
// requeued counts as replayed.
func (s *Store) Replay(ctx context.Context, id uint64) error {
	rec, err := s.Get(ctx, id)
	if err != nil {
		return err
	}

	if err := s.requeue(ctx, rec); err != nil {
		return err
	}

	// A concurrent replay or purge may have removed the record first; it is queued again
	// either way, which is all the caller asked for.
	if err := s.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// requeue publishes the original message of rec to the work stream under a message id
// derived from the record id.
func (s *Store) requeue(ctx context.Context, rec Record) error {
	subject := rec.Subject
	if subject == "" {
		subject = events.WorkSubjectPrefix + "replay"
	}
	msgID := "replay." + strconv.FormatUint(rec.ID, 10)
	if _, err := events.NewQueue(s.js).Publish(ctx, subject, msgID, rec.Data); err != nil {
		return fmt.Errorf("replay record %d: %w", rec.ID, err)
	}
	return nil
}

// ReplayAll replays every record matching f and returns how many were requeued. A record
// removed meanwhile by someone else is skipped. It stops at the first failure; the records
// not yet replayed stay in the stream.
func (s *Store) ReplayAll(ctx context.Context, f Filter) (int, error) {
	records, err := s.List(ctx, f)
	if err != nil {
		return 0, err
	}

	replayed := 0
	for _, r := range records {
		err := s.Replay(ctx, r.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return replayed, err
		}
		replayed++
	}
	return replayed, nil
}

// Delete removes record id, or returns an error wrapping [ErrNotFound] when there is none.
func (s *Store) Delete(ctx context.Context, id uint64) error {
	if id == 0 {
		return fmt.Errorf("record 0: %w", ErrNotFound)
	}

	stream, err := s.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return fmt.Errorf("open dead-letter stream: %w", err)
	}

	err = stream.DeleteMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		// The client reports a missing record and a failed delete with the same error;
		// only a second look tells "not found" (404) from a store failure (503).
		if _, getErr := stream.GetMsg(ctx, id); errors.Is(getErr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("record %d: %w", id, ErrNotFound)
		}
	}
	if err != nil {
		return fmt.Errorf("delete record %d: %w", id, err)
	}
	return nil
}

// Purge deletes every record and returns how many there were.
func (s *Store) Purge(ctx context.Context) (uint64, error) {
	stream, err := s.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return 0, fmt.Errorf("open dead-letter stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream info: %w", err)
	}
	// Purge only what was counted: a record stored meanwhile stays.
	if err := stream.Purge(ctx, jetstream.WithPurgeSequence(info.State.LastSeq+1)); err != nil {
		return 0, fmt.Errorf("purge dead-letter stream: %w", err)
	}
	return info.State.Msgs, nil
}

// Count returns how many records the stream holds.
func (s *Store) Count(ctx context.Context) (uint64, error) {
	stream, err := s.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return 0, fmt.Errorf("open dead-letter stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream info: %w", err)
	}
	return info.State.Msgs, nil
}

func decode(id uint64, data []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("decode record %d: %w", id, err)
	}
	rec.ID = id
	return rec, nil
}
