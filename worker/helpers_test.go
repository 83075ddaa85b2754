package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/worker/dlq"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

const (
	testAppID  = "worker-test-app"
	testKey    = "worker-test-key"
	testSecret = "worker-test-secret-never-logged"
	testPrefix = "sale-verification-"

	// waitLimit bounds every wait of these tests; a healthy run needs a fraction of it.
	waitLimit = 20 * time.Second
)

// env is one embedded JetStream server with salerelay's streams, a Pusher stand-in and
// a real Pusher client pointed at it.
type env struct {
	t      *testing.T
	broker *broker.Broker
	js     jetstream.JetStream
	queue  *events.Queue
	store  *dlq.Store
	stand  *pusherlocal.Server
	sender *Pusher
	logs   *syncBuffer
	log    *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b, err := broker.Open(t.Context(), broker.Options{DataDir: t.TempDir(),
		Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("open embedded broker: %v", err)
	}
	t.Cleanup(b.Close)
	if err := events.EnsureStreams(t.Context(), b.JS, events.StreamOptions{}); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}

	stand := pusherlocal.New(pusherlocal.Config{AppID: testAppID, Key: testKey,
		Secret: testSecret})
	host, err := stand.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start pusher stand-in: %v", err)
	}
	t.Cleanup(func() { stand.Close() })

	logs := &syncBuffer{}
	e := &env{
		t: t, broker: b, js: b.JS, queue: events.NewQueue(b.JS), store: dlq.NewStore(b.JS),
		stand: stand, logs: logs,
		sender: NewPusher(PusherConfig{AppID: testAppID, Key: testKey, Secret: testSecret,
			Host: host, Timeout: 5 * time.Second}),
		log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", logs.String())
		}
	})
	return e
}

// testConfig is a pool configuration with short retry delays.
func testConfig() Config {
	return Config{
		Workers: 4,
		Backoff: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
	}
}

// running is a Pool consuming in the background.
type running struct {
	*Pool
	cancel context.CancelFunc
	done   chan struct{}
}

// newPool prepares a pool on js (the env's when nil) without running it. The outage
// prober starts fast so that tests see an outage end within a second.
func (e *env) newPool(js jetstream.JetStream, cfg Config) *Pool {
	e.t.Helper()
	if js == nil {
		js = e.js
	}
	p, err := New(e.t.Context(), js, e.sender, cfg, e.log, nil)
	if err != nil {
		e.t.Fatalf("new pool: %v", err)
	}
	p.outage.minWait, p.outage.maxWait = 50*time.Millisecond, 400*time.Millisecond
	return p
}

// start runs p until the test ends or stop is called.
func (e *env) start(p *Pool) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Pool: p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := p.Run(ctx); err != nil {
			e.t.Errorf("pool stopped with error: %v", err)
		}
	}()
	e.t.Cleanup(func() { r.stop(e.t, 30*time.Second) })
	return r
}

// stop cancels the pool and returns how long Run took to return; it fails the test when
// that exceeds limit.
func (r *running) stop(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	started := time.Now()
	r.cancel()
	select {
	case <-r.done:
		return time.Since(started)
	case <-time.After(limit):
		t.Errorf("pool still running %s after the stop", limit)
		return limit
	}
}

// waitRunning polls until the pool consumes.
func (r *running) waitRunning(t *testing.T) {
	t.Helper()
	waitUntil(t, "pool consuming", r.Running)
}

// decision is a confirmed or rejected decision for sale, whose user id is derived from it.
func decision(sale string, d events.Decision, ts int64) events.SaleDecision {
	return events.SaleDecision{
		SaleID: sale, UserID: "user-" + sale, Decision: d, Timestamp: ts,
		Amount: json.RawMessage("12.5"), Source: events.SourceWebhook,
		ReceivedAt: time.Now().UnixMilli(),
	}
}

func (e *env) enqueue(d events.SaleDecision) events.Receipt {
	e.t.Helper()
	r, err := e.queue.Enqueue(e.t.Context(), d)
	if err != nil {
		e.t.Fatalf("enqueue %s: %v", d.MsgID(), err)
	}
	return r
}

// waitEvents waits until the stand-in accepted n events and returns them.
func (e *env) waitEvents(n int) []pusherlocal.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), waitLimit)
	defer cancel()
	got, err := e.stand.WaitFor(ctx, n)
	if err != nil {
		e.t.Fatalf("%v", err)
	}
	return got
}

// waitIdle polls until the work consumer holds nothing: every queued message left as
// delivered, skipped or dead-lettered.
func (e *env) waitIdle() {
	e.t.Helper()
	waitUntil(e.t, "work consumer idle", func() bool {
		cons, err := e.js.Consumer(e.t.Context(), events.WorkStream, events.WorkConsumer)
		if err != nil {
			return false
		}
		info, err := cons.Info(e.t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	waitUntil(e.t, "work stream empty", func() bool { return e.workMessages() == 0 })
}

// workMessages counts the messages on the work stream (WorkQueue: not yet acked).
func (e *env) workMessages() uint64 {
	stream, err := e.js.Stream(e.t.Context(), events.WorkStream)
	if err != nil {
		return 1 << 62
	}
	info, err := stream.Info(e.t.Context())
	if err != nil {
		return 1 << 62
	}
	return info.State.Msgs
}

func (e *env) deadLetters() []dlq.Record {
	e.t.Helper()
	recs, err := e.store.List(e.t.Context(), dlq.Filter{})
	if err != nil {
		e.t.Fatalf("list dead letters: %v", err)
	}
	return recs
}

// waitUntil polls cond every 10 ms until it holds, failing the test after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %s", what, waitLimit)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// delivered groups accepted events by sale id: the event names in arrival order.
func delivered(t *testing.T, evs []pusherlocal.Event) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, ev := range evs {
		var p events.Payload
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		if want := testPrefix + p.UserID; ev.Channel != want {
			t.Errorf("event for sale %s on channel %q, want %q", p.SaleID, ev.Channel, want)
		}
		out[p.SaleID] = append(out[p.SaleID], ev.Name)
	}
	return out
}

// logCount counts log lines whose msg is msg.
func (e *env) logCount(msg string) int {
	return strings.Count(e.logs.String(), fmt.Sprintf(`"msg":%q`, msg))
}

// ledgerEntry reads the raw ledger entry of sale.
func (e *env) ledgerEntry(sale string) (entry, bool) {
	e.t.Helper()
	kv, err := e.js.KeyValue(e.t.Context(), events.LedgerBucket)
	if err != nil {
		e.t.Fatalf("open ledger: %v", err)
	}
	kve, err := kv.Get(e.t.Context(), ledgerKey(sale))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{}, false
	}
	if err != nil {
		e.t.Fatalf("read ledger of %s: %v", sale, err)
	}
	var en entry
	if err := json.Unmarshal(kve.Value(), &en); err != nil {
		e.t.Fatalf("decode ledger of %s: %v", sale, err)
	}
	return en, true
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
