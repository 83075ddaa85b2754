package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker/brokertest"
)

// base is the $updatedAt of the first stand-in row.
var base = time.Date(2025, 11, 3, 10, 0, 0, 0, time.UTC)

// openJetStream starts an embedded JetStream with salerelay's streams and buckets.
func openJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	return brokertest.Start(t, events.StreamOptions{}).JS
}

// fixture is a scanner wired to a stand-in Appwrite and a real JetStream.
type fixture struct {
	js      jetstream.JetStream
	appw    *appwriteStandin
	scanner *Scanner
	reg     *prometheus.Registry
	logs    *logBuffer
	clock   *testClock
}

// newFixture builds a scanner over rows. change, when set, edits the config first.
func newFixture(t *testing.T, rows []standinRow, lookup events.DeliveryLookup,
	change func(*Config)) *fixture {
	t.Helper()
	f := &fixture{
		js:    openJetStream(t),
		appw:  newAppwriteStandin(t, rows),
		clock: &testClock{now: base.Add(2 * time.Hour)},
	}
	f.scanner, f.reg, f.logs = f.newScanner(t, lookup, change)
	return f
}

// newScanner builds another scanner on the fixture's stand-in and JetStream, as a second
// instance or a restarted process would.
func (f *fixture) newScanner(t *testing.T, lookup events.DeliveryLookup,
	change func(*Config)) (*Scanner, *prometheus.Registry, *logBuffer) {
	t.Helper()
	cfg := Config{
		Endpoint:   f.appw.endpoint(),
		ProjectID:  testProject,
		APIKey:     testAPIKey,
		DatabaseID: testDatabase,
		TableID:    testTable,
		RetryDelay: time.Millisecond, // keep retries fast; the backoff itself is not tested
	}
	if change != nil {
		change(&cfg)
	}

	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	s, err := NewScanner(cfg, events.NewQueue(f.js), lookup, log, reg)
	if err != nil {
		t.Fatalf("new scanner: %v", err)
	}
	s.now = f.clock.Now
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testAPIKey) {
			t.Errorf("logs contain the Appwrite API key:\n%s", logs)
		}
	})
	return s, reg, logs
}

// storedDecisions returns every decision on the work stream, oldest first.
func storedDecisions(t *testing.T, js jetstream.JetStream) []events.SaleDecision {
	t.Helper()
	ctx := context.Background()

	stream, err := js.Stream(ctx, events.WorkStream)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}

	var out []events.SaleDecision
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		if m.Subject != events.WorkSubject(events.SourceReconcile) {
			t.Errorf("message %d: subject %q, want %q", seq, m.Subject,
				events.WorkSubject(events.SourceReconcile))
		}
		var d events.SaleDecision
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("decode message %d: %v", seq, err)
		}
		if got := m.Header.Get(jetstream.MsgIDHeader); got != d.MsgID() {
			t.Errorf("message %d: msg id %q, want %q", seq, got, d.MsgID())
		}
		out = append(out, d)
	}
	return out
}

// fakeLedger answers LastDelivered from a map. It stands in for the worker's ledger, which
// is not what these tests are about.
type fakeLedger struct {
	delivered map[string]events.Delivery
	err       error
}

func (l fakeLedger) LastDelivered(_ context.Context, saleID string) (events.Delivery, bool,
	error) {
	if l.err != nil {
		return events.Delivery{}, false, l.err
	}
	d, ok := l.delivered[saleID]
	return d, ok, nil
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects log lines written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
