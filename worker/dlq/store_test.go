package dlq

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestStoreAddDedupsByOriginalSequence(t *testing.T) {
	tests := []struct {
		name        string
		originals   []uint64 // OriginalSeq of each Add, in order
		wantRecords int
	}{
		{"one record", []uint64{7}, 1},
		{"same original twice after a crash stores one", []uint64{7, 7}, 1},
		{"different originals store two", []uint64{7, 8}, 2},
		{"unknown original sequences are never merged", []uint64{0, 0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t)

			ids := map[uint64]bool{}
			for i, seq := range tt.originals {
				ids[mustAdd(t, s, testRecord(t, seq, "sale-"+strconv.Itoa(i), Permanent))] = true
			}

			n, err := s.Count(t.Context())
			if err != nil {
				t.Fatalf("Count: %v", err)
			}
			if n != uint64(tt.wantRecords) || len(ids) != tt.wantRecords {
				t.Errorf("got %d records with %d distinct ids, want %d",
					n, len(ids), tt.wantRecords)
			}
		})
	}
}

func TestStoreGet(t *testing.T) {
	s, _ := newTestStore(t)
	want := testRecord(t, 11, "sale-get", Exhausted)
	id := mustAdd(t, s, want)
	deleted := mustAdd(t, s, testRecord(t, 12, "sale-deleted", Permanent))
	if err := s.Delete(t.Context(), deleted); err != nil {
		t.Fatalf("Delete(%d): %v", deleted, err)
	}

	tests := []struct {
		name    string
		id      uint64
		wantErr error
	}{
		{"stored record", id, nil},
		{"deleted record", deleted, ErrNotFound},
		{"id past the end", 999, ErrNotFound},
		{"id zero", 0, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get(t.Context(), tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%d) error = %v, want %v", tt.id, err, tt.wantErr)
			}
			if err != nil {
				return
			}

			want.ID = id
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Get(%d) =\n%+v\nwant\n%+v", tt.id, got, want)
			}
		})
	}
}

func TestStoreListFilters(t *testing.T) {
	s, _ := newTestStore(t)
	records := []struct {
		sale  string
		class Class
		age   time.Duration // how long before now it last failed
	}{
		{"old-permanent", Permanent, 48 * time.Hour},
		{"old-exhausted", Exhausted, 30 * time.Hour},
		{"new-permanent", Permanent, 10 * time.Minute},
		{"new-poison", Poison, time.Minute},
	}
	now := time.Now().UTC()
	for i, r := range records {
		rec := testRecord(t, uint64(i+1), r.sale, r.class)
		rec.LastFailedAt = now.Add(-r.age)
		mustAdd(t, s, rec)
	}

	tests := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"zero filter lists all, oldest first", Filter{},
			[]string{"old-permanent", "old-exhausted", "new-permanent", "new-poison"}},
		{"since one day", Filter{Since: now.Add(-24 * time.Hour)},
			[]string{"new-permanent", "new-poison"}},
		{"class permanent", Filter{Class: Permanent},
			[]string{"old-permanent", "new-permanent"}},
		{"since and class", Filter{Since: now.Add(-time.Hour), Class: Poison},
			[]string{"new-poison"}},
		{"nothing matches", Filter{Class: Exhausted, Since: now}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if ids := saleIDs(got); !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("List(%+v) sales = %v, want %v", tt.filter, ids, tt.want)
			}
		})
	}
}

func TestStoreListEmptyAndAfterDeletes(t *testing.T) {
	s, _ := newTestStore(t)

	got, err := s.List(t.Context(), Filter{})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("List on an empty stream = %v, %v; want an empty non-nil slice", got, err)
	}

	// More records than one read batch, with gaps in the middle and at the end.
	var want []string
	for i := 1; i <= 300; i++ {
		id := mustAdd(t, s, testRecord(t, uint64(i), "sale-"+strconv.Itoa(i), Exhausted))
		if i%7 == 0 || i > 295 {
			if err := s.Delete(t.Context(), id); err != nil {
				t.Fatalf("Delete(%d): %v", id, err)
			}
			continue
		}
		want = append(want, "sale-"+strconv.Itoa(i))
	}

	got, err = s.List(t.Context(), Filter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if ids := saleIDs(got); !reflect.DeepEqual(ids, want) {
		t.Errorf("List after deletes: got %d records, want %d (first %v, want %v)",
			len(ids), len(want), ids[:3], want[:3])
	}
}

func TestStoreReplayRequeuesOriginalMessage(t *testing.T) {
	tests := []struct {
		name        string
		subject     string
		wantSubject string
	}{
		{"original subject kept", "sales.decisions.webhook", "sales.decisions.webhook"},
		{"publisher subject kept", "sales.decisions.publisher", "sales.decisions.publisher"},
		{"missing subject goes to replay", "", "sales.decisions.replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, js := newTestStore(t)
			rec := testRecord(t, 21, "sale-replay", Permanent)
			rec.Subject = tt.subject
			id := mustAdd(t, s, rec)

			if err := s.Replay(t.Context(), id); err != nil {
				t.Fatalf("Replay(%d): %v", id, err)
			}

			msgs := workMessages(t, js)
			if len(msgs) != 1 {
				t.Fatalf("work stream holds %d messages, want 1", len(msgs))
			}
			if got := msgs[0].Subject; got != tt.wantSubject {
				t.Errorf("replayed subject = %q, want %q", got, tt.wantSubject)
			}
			if !bytes.Equal(msgs[0].Data, rec.Data) {
				t.Errorf("replayed data = %s, want the original %s", msgs[0].Data, rec.Data)
			}
			wantID := "replay." + strconv.FormatUint(id, 10)
			if got := msgs[0].Header.Get(jetstream.MsgIDHeader); got != wantID {
				t.Errorf("replayed message id = %q, want %q", got, wantID)
			}
			if _, err := s.Get(t.Context(), id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%d) after replay error = %v, want ErrNotFound", id, err)
			}
		})
	}
}

func TestStoreReplayTwiceStoresOneWorkMessage(t *testing.T) {
	s, js := newTestStore(t)
	rec := testRecord(t, 31, "sale-twice", Exhausted)
	id := mustAdd(t, s, rec)
	rec.ID = id

	// A replay that crashed after queueing and before deleting left the record behind;
	// the operator replays it again.
	if err := s.requeue(t.Context(), rec); err != nil {
		t.Fatalf("first requeue of record %d: %v", id, err)
	}
	if err := s.Replay(t.Context(), id); err != nil {
		t.Fatalf("Replay(%d): %v", id, err)
	}

	if got := len(workMessages(t, js)); got != 1 {
		t.Errorf("work stream holds %d messages after two replays of record %d, want 1",
			got, id)
	}
	if n, _ := s.Count(t.Context()); n != 0 {
		t.Errorf("dead-letter stream holds %d records after replay, want 0", n)
	}
}

func TestStoreReplayUnknownRecord(t *testing.T) {
	s, js := newTestStore(t)

	for _, id := range []uint64{0, 1, 42} {
		if err := s.Replay(t.Context(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Replay(%d) error = %v, want ErrNotFound", id, err)
		}
	}
	if got := len(workMessages(t, js)); got != 0 {
		t.Errorf("work stream holds %d messages, want 0", got)
	}
}

func TestStoreReplayAll(t *testing.T) {
	tests := []struct {
		name         string
		filter       Filter
		wantReplayed int
		wantLeft     []string
	}{
		{"everything", Filter{}, 3, []string{}},
		{"one class", Filter{Class: Exhausted}, 2, []string{"sale-b"}},
		{"since the future", Filter{Since: time.Now().Add(time.Hour)}, 0,
			[]string{"sale-a", "sale-b", "sale-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, js := newTestStore(t)
			mustAdd(t, s, testRecord(t, 1, "sale-a", Exhausted))
			mustAdd(t, s, testRecord(t, 2, "sale-b", Permanent))
			mustAdd(t, s, testRecord(t, 3, "sale-c", Exhausted))

			n, err := s.ReplayAll(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("ReplayAll: %v", err)
			}
			if n != tt.wantReplayed {
				t.Errorf("ReplayAll replayed %d, want %d", n, tt.wantReplayed)
			}
			if got := len(workMessages(t, js)); got != tt.wantReplayed {
				t.Errorf("work stream holds %d messages, want %d", got, tt.wantReplayed)
			}
			left, err := s.List(t.Context(), Filter{})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := saleIDs(left); !reflect.DeepEqual(got, tt.wantLeft) {
				t.Errorf("records left = %v, want %v", got, tt.wantLeft)
			}
		})
	}
}

func TestStoreDelete(t *testing.T) {
	s, _ := newTestStore(t)
	id := mustAdd(t, s, testRecord(t, 41, "sale-delete", Poison))

	tests := []struct {
		name    string
		id      uint64
		wantErr error
	}{
		{"stored record", id, nil},
		{"same record again", id, ErrNotFound},
		{"id past the end", 999, ErrNotFound},
		{"id zero", 0, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Delete(t.Context(), tt.id); !errors.Is(err, tt.wantErr) {
				t.Errorf("Delete(%d) error = %v, want %v", tt.id, err, tt.wantErr)
			}
		})
	}
	if n, _ := s.Count(t.Context()); n != 0 {
		t.Errorf("dead-letter stream holds %d records after Delete, want 0", n)
	}
}

func TestStorePurge(t *testing.T) {
	tests := []struct {
		name    string
		records int
	}{
		{"empty stream", 0},
		{"three records", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t)
			for i := range tt.records {
				mustAdd(t, s, testRecord(t, uint64(i+1), "sale-"+strconv.Itoa(i), Permanent))
			}

			n, err := s.Purge(t.Context())
			if err != nil {
				t.Fatalf("Purge: %v", err)
			}
			if n != uint64(tt.records) {
				t.Errorf("Purge removed %d, want %d", n, tt.records)
			}
			if left, _ := s.Count(t.Context()); left != 0 {
				t.Errorf("dead-letter stream holds %d records after Purge, want 0", left)
			}

			// A record stored after the purge is kept.
			id := mustAdd(t, s, testRecord(t, 100, "sale-after", Exhausted))
			if _, err := s.Get(t.Context(), id); err != nil {
				t.Errorf("Get(%d) of a record stored after Purge: %v", id, err)
			}
		})
	}
}
