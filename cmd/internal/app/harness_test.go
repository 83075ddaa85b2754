package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// stack is one salerelay App with its Pusher stand-in, both on loopback.
type stack struct {
	t      *testing.T
	app    *App
	pusher *pusherlocal.Server
	url    string // http://127.0.0.1:port
	cfg    config.Config
	stop   context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

// testConfig is a valid configuration for the fixtures, on an embedded server in dir.
func testConfig(t *testing.T, fx *fixtureSet, dataDir string) config.Config {
	t.Helper()
	t.Setenv("PUSHER_APP_ID", "test-app")
	t.Setenv("PUSHER_KEY", "test-key")
	t.Setenv("PUSHER_SECRET", "test-secret-do-not-log")
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	cfg.PusherTLS = false
	cfg.WebhookURL = fx.WebhookURL
	cfg.WebhookSignatureKey = fx.SignatureKey
	cfg.DatabaseID = fx.DatabaseID
	cfg.SalesCollectionID = fx.CollectionID
	cfg.DataDir = dataDir
	cfg.NATSListen = "127.0.0.1:0"
	cfg.Workers = 4
	cfg.RetryBackoff = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond}
	if err := cfg.Validate(config.Need{Pusher: true}); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	return cfg
}

// startStack runs an App on cfg against pusher (a new stand-in when nil) until the test
// ends or stop is called.
func startStack(t *testing.T, cfg config.Config, pusher *pusherlocal.Server,
	streams events.StreamOptions) *stack {
	t.Helper()
	if pusher == nil {
		pusher = pusherlocal.New(pusherlocal.Config{
			AppID: cfg.PusherAppID, Key: cfg.PusherKey, Secret: cfg.PusherSecret,
		})
		host, err := pusher.Start("127.0.0.1:0")
		if err != nil {
			t.Fatalf("start pusher stand-in: %v", err)
		}
		t.Cleanup(func() { pusher.Close() })
		cfg.PusherHost = host
	}

	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, Options{Addr: "127.0.0.1:0", Logger: log, Streams: streams})
	if err != nil {
		cancel()
		t.Fatalf("start app: %v", err)
	}

	s := &stack{t: t, app: a, pusher: pusher, url: "http://" + a.Addr(), cfg: cfg,
		stop: cancel, done: make(chan error, 1), logs: logs}
	go func() { s.done <- a.Run(ctx) }()
	t.Cleanup(s.shutdown)
	return s
}

// shutdown stops the app and waits for Run to return.
func (s *stack) shutdown() {
	s.stop()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("app stopped with error: %v", err)
		}
		s.done <- nil // later calls return at once
	case <-time.After(40 * time.Second):
		s.t.Errorf("app did not stop within 40s")
	}
}

// post sends a request and returns the status and decoded JSON answer.
func (s *stack) post(path string, body []byte, header http.Header) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("build request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("POST %s: answer %q is not JSON: %v", path, raw, err)
		}
	}
	return resp.StatusCode, out
}

// waitIdle polls until the work consumer holds no message: everything queued so far was
// delivered, skipped or dead-lettered.
func (s *stack) waitIdle() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		cons, err := s.app.broker.JS.Consumer(ctx, events.WorkStream, events.WorkConsumer)
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 &&
				info.NumRedelivered == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("work consumer still busy after 30s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitEvents waits until the stand-in accepted n events and returns them.
func (s *stack) waitEvents(n int) []pusherlocal.Event {
	s.t.Helper()
	return s.waitEventsWithin(n, 30*time.Second)
}

// waitEventsWithin is waitEvents with its own limit.
func (s *stack) waitEventsWithin(n int, limit time.Duration) []pusherlocal.Event {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	got, err := s.pusher.WaitFor(ctx, n)
	if err != nil {
		s.t.Fatalf("waiting for %d events, have %d: %v", n, len(s.pusher.Events()), err)
	}
	return got
}

// fixtureSet is ../shared/fixtures/webhooks/cases.json.
type fixtureSet struct {
	SignatureKey string        `json:"signature_key"`
	WebhookURL   string        `json:"webhook_url"`
	DatabaseID   string        `json:"database_id"`
	CollectionID string        `json:"collection_id"`
	Cases        []fixtureCase `json:"cases"`
	dir          string
}

type fixtureCase struct {
	Name     string            `json:"name"`
	BodyFile string            `json:"body_file"`
	Headers  map[string]string `json:"headers"`
	Expect   struct {
		Status int            `json:"status"`
		Queued *bool          `json:"queued"`
		Events []fixtureEvent `json:"events"`
	} `json:"expect"`
}

type fixtureEvent struct {
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

func (c fixtureCase) body(t *testing.T, fx *fixtureSet) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fx.dir, c.BodyFile))
	if err != nil {
		t.Fatalf("read fixture body: %v", err)
	}
	return raw
}

func (c fixtureCase) header() http.Header {
	h := http.Header{}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	return h
}

// loadFixtures reads the repository's copy of the shared fixtures. When ../shared is
// beside the repository, the copy must still match it.
func loadFixtures(t *testing.T) *fixtureSet {
	t.Helper()
	dir := filepath.Join("testdata", "webhooks")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	shared, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "fixtures",
		"webhooks", "cases.json"))
	if err == nil && !bytes.Equal(shared, raw) {
		t.Fatalf("testdata/webhooks differs from ../shared/fixtures/webhooks: copy it again")
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read shared fixtures: %v", err)
	}

	fx := &fixtureSet{dir: dir}
	if err := json.Unmarshal(raw, fx); err != nil {
		t.Fatalf("decode fixtures: %v", err)
	}
	if len(fx.Cases) == 0 {
		t.Fatalf("no fixture cases")
	}
	return fx
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
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

// waitRunning polls until the worker pool consumes, which /readyz requires.
func (s *stack) waitRunning() {
	s.t.Helper()
	if !poll(10*time.Second, s.app.pool.Running) {
		s.t.Fatalf("worker pool not running after 10s")
	}
}

// poll calls cond every 10 ms until it holds or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
