package publisher

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salerelay/salerelay/events"
)

var receivedAt = time.Date(2025, 11, 3, 10, 16, 5, 112_000_000, time.UTC)

func newTestHandler(t *testing.T, cfg Config, q events.Enqueuer) (*Handler, *logBuffer) {
	t.Helper()
	log, buf := newTestLogger()
	h := New(cfg, q, log, nil)
	h.now = func() time.Time { return receivedAt }
	t.Cleanup(func() {
		if strings.Contains(buf.String(), testKey) {
			t.Errorf("logs contain the API key:\n%s", buf)
		}
	})
	return h, buf
}

func TestPublishAnswers(t *testing.T) {
	js := openJetStream(t)
	h, _ := newTestHandler(t, Config{APIKey: testKey, MaxBodyBytes: 256},
		events.NewQueue(js))
	bearer := "Bearer " + testKey

	tests := []struct {
		name     string
		method   string
		auth     string
		body     string
		wantCode int
		wantBody string
	}{
		{"confirmed", "POST", bearer,
			`{"saleId":"s1","userId":"u1","decision":"confirmed","amount":20.5,"productCount":4}`,
			200, `{"ok":true,"channel":"sale-verification-u1","eventName":"sale:confirmed"}`},
		{"rejected minimal", "POST", bearer,
			`{"saleId":"s2","userId":"u_2","decision":"rejected"}`,
			200, `{"ok":true,"channel":"sale-verification-u_2","eventName":"sale:rejected"}`},
		{"userId not a channel name", "POST", bearer,
			`{"saleId":"s4","userId":"bad user&","decision":"rejected"}`,
			400, `{"ok":false,"error":"channel name \"sale-verification-bad user&\" is not ` +
				`accepted by Pusher"}`},
		{"lower-case scheme", "POST", "bearer " + testKey,
			`{"saleId":"s3","userId":"u3","decision":"confirmed"}`,
			200, `{"ok":true,"channel":"sale-verification-u3","eventName":"sale:confirmed"}`},
		{"missing saleId", "POST", bearer, `{"userId":"u1","decision":"confirmed"}`,
			400, `{"ok":false,"error":"saleId is required"}`},
		{"blank saleId", "POST", bearer, `{"saleId":"  ","userId":"u1","decision":"confirmed"}`,
			400, `{"ok":false,"error":"saleId is required"}`},
		{"numeric saleId", "POST", bearer, `{"saleId":12,"userId":"u1","decision":"confirmed"}`,
			400, `{"ok":false,"error":"saleId is required"}`},
		{"missing userId", "POST", bearer, `{"saleId":"s1","decision":"confirmed"}`,
			400, `{"ok":false,"error":"userId is required"}`},
		{"null userId", "POST", bearer, `{"saleId":"s1","userId":null,"decision":"rejected"}`,
			400, `{"ok":false,"error":"userId is required"}`},
		{"unknown decision", "POST", bearer, `{"saleId":"s1","userId":"u1","decision":"maybe"}`,
			400, `{"ok":false,"error":"decision must be confirmed or rejected"}`},
		{"capitalised decision", "POST", bearer,
			`{"saleId":"s1","userId":"u1","decision":"Confirmed"}`,
			400, `{"ok":false,"error":"decision must be confirmed or rejected"}`},
		{"missing decision", "POST", bearer, `{"saleId":"s1","userId":"u1"}`,
			400, `{"ok":false,"error":"decision must be confirmed or rejected"}`},
		{"not JSON", "POST", bearer, `saleId=s1`,
			400, `{"ok":false,"error":"body must be a JSON object"}`},
		{"JSON array", "POST", bearer, `[{"saleId":"s1"}]`,
			400, `{"ok":false,"error":"body must be a JSON object"}`},
		{"empty body", "POST", bearer, ``,
			400, `{"ok":false,"error":"body must be a JSON object"}`},
		{"no key", "POST", "", `{"saleId":"s1","userId":"u1","decision":"confirmed"}`,
			401, `{"ok":false,"error":"Unauthorized"}`},
		{"wrong key", "POST", "Bearer not-the-key",
			`{"saleId":"s1","userId":"u1","decision":"confirmed"}`,
			401, `{"ok":false,"error":"Unauthorized"}`},
		{"key without scheme", "POST", testKey,
			`{"saleId":"s1","userId":"u1","decision":"confirmed"}`,
			401, `{"ok":false,"error":"Unauthorized"}`},
		{"basic scheme", "POST", "Basic " + testKey,
			`{"saleId":"s1","userId":"u1","decision":"confirmed"}`,
			401, `{"ok":false,"error":"Unauthorized"}`},
		{"GET", "GET", bearer, ``,
			405, `{"ok":false,"error":"Method not allowed"}`},
		{"too large", "POST", bearer,
			`{"saleId":"s1","userId":"u1","decision":"confirmed","cause":"` +
				strings.Repeat("x", 300) + `"}`,
			413, `{"ok":false,"error":"Request body too large"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, request(tt.method, tt.auth, tt.body))

			if w.Code != tt.wantCode {
				t.Errorf("status: got %d, want %d", w.Code, tt.wantCode)
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body:\n got %s\nwant %s", got, tt.wantBody)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("content type: got %q", got)
			}
		})
	}

	if got := len(readWorkStream(t, js)); got != 3 {
		t.Errorf("stored decisions: got %d, want 3 (one per 200)", got)
	}
}

func TestPublishStoresDecision(t *testing.T) {
	js := openJetStream(t)
	h, logs := newTestHandler(t, Config{APIKey: testKey, ChannelPrefix: "sv-"},
		events.NewQueue(js))
	ms := receivedAt.UnixMilli()

	tests := []struct {
		name string
		body string
		want events.SaleDecision
	}{{
		name: "confirmed with values",
		body: `{"saleId":"s1","userId":"u1","decision":"confirmed",` +
			`"amount": 20.50 ,"productCount":4,"cause":null}`,
		want: events.SaleDecision{SaleID: "s1", UserID: "u1", Decision: events.Confirmed,
			Amount: json.RawMessage(`20.50`), ProductCount: json.RawMessage(`4`)},
	}, {
		name: "rejected with odd values kept as sent",
		body: `{"saleId":"s2","userId":"u2","decision":"rejected",` +
			`"amount":"12","productCount":"3","cause":"out_of_stock"}`,
		want: events.SaleDecision{SaleID: "s2", UserID: "u2", Decision: events.Rejected,
			Amount: json.RawMessage(`"12"`), ProductCount: json.RawMessage(`"3"`),
			Cause: json.RawMessage(`"out_of_stock"`)},
	}, {
		name: "absent values",
		body: `{"saleId":"s3","userId":"u3","decision":"rejected"}`,
		want: events.SaleDecision{SaleID: "s3", UserID: "u3", Decision: events.Rejected},
	}}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("POST", "Bearer "+testKey, tt.body))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d, body %s", tt.name, w.Code, w.Body)
		}
	}

	stored := readWorkStream(t, js)
	if len(stored) != len(tests) {
		t.Fatalf("stored: got %d messages, want %d", len(stored), len(tests))
	}
	for i, tt := range tests {
		want := tt.want
		want.Timestamp, want.ReceivedAt, want.Source = ms, ms, events.SourcePublisher
		got := stored[i]

		if gotJSON, wantJSON := mustJSON(t, got.Decision), mustJSON(t, want); gotJSON != wantJSON {
			t.Errorf("%s: decision\n got %s\nwant %s", tt.name, gotJSON, wantJSON)
		}
		if got.Subject != "sales.decisions.publisher" {
			t.Errorf("%s: subject got %q, want sales.decisions.publisher", tt.name, got.Subject)
		}
		if got.MsgID != want.MsgID() {
			t.Errorf("%s: msg id got %q, want %q", tt.name, got.MsgID, want.MsgID())
		}
	}

	payload, _ := json.Marshal(stored[2].Decision.Payload())
	wantPayload := `{"saleId":"s3","userId":"u3","decision":"rejected","timestamp":"` +
		"1762164965112" + `","amount":null,"productCount":null,"type":"sale:rejected","cause":null}`
	if string(payload) != wantPayload {
		t.Errorf("payload:\n got %s\nwant %s", payload, wantPayload)
	}

	for _, key := range []string{`"sale_id":"s1"`, `"decision":"confirmed"`,
		`"source":"publisher"`} {
		if !strings.Contains(logs.String(), key) {
			t.Errorf("logs lack %s:\n%s", key, logs)
		}
	}
}

func TestPublishRepeatedReportIsStoredOnce(t *testing.T) {
	js := openJetStream(t)
	h, _ := newTestHandler(t, Config{APIKey: testKey}, events.NewQueue(js))
	body := `{"saleId":"s1","userId":"u1","decision":"confirmed"}`

	for i := range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("POST", "Bearer "+testKey, body))
		if w.Code != http.StatusOK {
			t.Fatalf("report %d: status %d, want 200", i+1, w.Code)
		}
	}

	if got := len(readWorkStream(t, js)); got != 1 {
		t.Errorf("stored: got %d, want 1 (same receive time, same message id)", got)
	}
}

func TestPublishQueueDownAnswers503(t *testing.T) {
	js := openJetStream(t)
	if err := js.DeleteStream(context.Background(), events.WorkStream); err != nil {
		t.Fatalf("delete stream: %v", err)
	}
	q := events.NewQueue(js)
	q.Timeout = 2 * time.Second
	reg := prometheus.NewRegistry()
	log, _ := newTestLogger()
	h := New(Config{APIKey: testKey}, q, log, reg)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("POST", "Bearer "+testKey,
		`{"saleId":"s1","userId":"u1","decision":"confirmed"}`))

	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status: got %d, want 503", w.Code)
	}
	if want := `{"ok":false,"error":"Queue unavailable, try again"}`; w.Body.String() != want {
		t.Errorf("body: got %s, want %s", w.Body, want)
	}
	got := testutil.ToFloat64(h.metrics.requests.WithLabelValues(outcomeUnavailable))
	if got != 1 {
		t.Errorf("unavailable count: got %v, want 1", got)
	}
}

func TestPublishDisabledWithoutKey(t *testing.T) {
	js := openJetStream(t)
	h, _ := newTestHandler(t, Config{}, events.NewQueue(js))

	for _, method := range []string{"POST", "OPTIONS"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(method, "Bearer ", `{"saleId":"s1","userId":"u1",`+
			`"decision":"confirmed"}`))
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: status got %d, want 404", method, w.Code)
		}
	}
	if got := len(readWorkStream(t, js)); got != 0 {
		t.Errorf("stored: got %d, want 0", got)
	}
}

func TestPublishCountsOutcomes(t *testing.T) {
	js := openJetStream(t)
	reg := prometheus.NewRegistry()
	log, _ := newTestLogger()
	h := New(Config{APIKey: testKey}, events.NewQueue(js), log, reg)

	requests := []*http.Request{
		request("POST", "Bearer "+testKey, `{"saleId":"s1","userId":"u1","decision":"confirmed"}`),
		request("POST", "Bearer "+testKey, `{"saleId":"s1"}`),
		request("GET", "Bearer "+testKey, ``),
		request("POST", "Bearer nope", `{}`),
	}
	for _, r := range requests {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}

	want := map[string]float64{outcomeQueued: 1, outcomeInvalid: 2, outcomeUnauthorized: 1,
		outcomeUnavailable: 0}
	for outcome, n := range want {
		got := testutil.ToFloat64(h.metrics.requests.WithLabelValues(outcome))
		if got != n {
			t.Errorf("outcome %s: got %v, want %v", outcome, got, n)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "salerelay_publisher_requests_total"); err != nil ||
		n != 4 {
		t.Errorf("registered series: got %d (%v), want 4", n, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}
