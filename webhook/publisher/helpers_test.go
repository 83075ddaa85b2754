package publisher

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker/brokertest"
)

const testKey = "pub-test-key-5b1f"

// openJetStream starts an embedded JetStream with salerelay's streams.
func openJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	return brokertest.Start(t, events.StreamOptions{}).JS
}

// readWorkStream returns every message on the work stream, oldest first.
func readWorkStream(t *testing.T, js jetstream.JetStream) []brokertest.Stored {
	t.Helper()
	return brokertest.WorkMessages(t, js)
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

func newTestLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// request builds a publish request; an empty auth sends no Authorization header.
func request(method, auth, body string) *http.Request {
	r := httptest.NewRequest(method, Path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}
