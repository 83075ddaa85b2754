package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/webhook"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// Secrets the operations tests configure, to be searched for in every log line.
const (
	opsPublisherKey = "ops-publisher-key-do-not-log"
	opsAdminToken   = "ops-admin-token-do-not-log"
	opsAppwriteKey  = "ops-appwrite-key-do-not-log"
)

// Sales the operations tests invent next to the fixtures' ones.
const (
	fixtureUser      = "698f82750024bfe2dc52"
	confirmedSale    = "69c9593b002b167bf4fb" // fixture v18-update-verified
	rejectedSale     = "69c95a10003c5e1d2a77" // fixture v18-update-deleted, at 15:06:10.500
	reconcileSale    = "69c9700000aa00bb00cc"
	deadLetterSale   = "69c9711100dd00ee00ff"
	unavailableSale  = "69c9722200ee00ff0011"
	publisherSale    = "69c9733300ff00110022"
	deadLetterUserID = "bad user" // a space: Pusher refuses the channel name
)

// TestMetricsCountWhatHappened sends real-shaped webhooks of every outcome, old-endpoint
// requests and one reconcile run through the whole App, then scrapes GET /metrics over
// HTTP and checks each salerelay series against the exact number those requests cause.
func TestMetricsCountWhatHappened(t *testing.T) {
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	cfg.PublisherAPIKey = opsPublisherKey
	cfg.AdminToken = opsAdminToken
	appwrite := newAppwriteRows(t, cfg.DatabaseID, cfg.SalesCollectionID, saleRow(reconcileSale,
		fixtureUser, "VERIFIED", time.Now().Add(-time.Minute)))
	cfg.AppwriteEndpoint = appwrite.URL + "/v1"
	cfg.AppwriteProjectID = "ops-project"
	cfg.AppwriteAPIKey = opsAppwriteKey
	cfg.ReconcileInterval = time.Hour // one run, at start
	s := startStack(t, cfg, nil, events.StreamOptions{})

	// Every fixture: 4 queued (3 confirmed, 1 rejected), 3 ignored, 1 unauthorized.
	sent := []string{}
	for _, c := range fx.Cases {
		status, answer := s.post("/webhooks/appwrite", c.body(t, fx), c.header())
		if status != c.Expect.Status {
			t.Fatalf("%s: status %d, want %d (answer %v)", c.Name, status, c.Expect.Status, answer)
		}
		sent = append(sent, c.Headers["X-Appwrite-Webhook-Signature"])
	}
	s.waitEvents(5) // 4 fixtures and the reconcile run's sale
	s.waitIdle()

	// A signed body that is not JSON: invalid.
	notJSON := []byte("sale=69c9593b002b167bf4fb&buy_state=VERIFIED")
	h := webhookHeader(fx, notJSON, "update", confirmedSale)
	sent = append(sent, h.Get("X-Appwrite-Webhook-Signature"))
	s.expectWebhook(h, notJSON, http.StatusBadRequest, nil)

	// The same confirmation reported again with a later $updatedAt: queued, then
	// suppressed by the ledger as a duplicate.
	sent = append(sent, s.sendSale(fx, confirmedSale, fixtureUser, "VERIFIED",
		"2026-11-20T15:09:00.000+00:00", true))
	// A confirmation older than the rejection delivered for that sale: queued, then
	// dropped as stale.
	sent = append(sent, s.sendSale(fx, rejectedSale, fixtureUser, "VERIFIED",
		"2026-11-20T15:04:05.123+00:00", true))
	// A user id Pusher cannot take as a channel name: queued, then dead-lettered.
	sent = append(sent, s.sendSale(fx, deadLetterSale, deadLetterUserID, "VERIFIED",
		"2026-11-20T15:10:00.000+00:00", true))

	// The old endpoint: one refused key, one rejection queued and delivered.
	s.publish("wrong-key", publisherSale, http.StatusUnauthorized)
	s.publish(opsPublisherKey, publisherSale, http.StatusOK)
	s.waitEvents(6)
	s.waitIdle()

	// A work stream that refuses every message: the webhook answers 503, unavailable.
	s.squeezeWorkStream()
	sent = append(sent, s.sendSale(fx, unavailableSale, fixtureUser, "VERIFIED",
		"2026-11-20T15:11:00.000+00:00", false))
	s.restoreWorkStream()

	s.waitMetric("salerelay_reconcile_runs_total", 1, "outcome", "ok")
	fams := s.scrape()

	counts := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"salerelay_webhooks_total", []string{"outcome", "queued"}, 7},
		{"salerelay_webhooks_total", []string{"outcome", "ignored"}, 3},
		{"salerelay_webhooks_total", []string{"outcome", "unauthorized"}, 1},
		{"salerelay_webhooks_total", []string{"outcome", "invalid"}, 1},
		{"salerelay_webhooks_total", []string{"outcome", "unavailable"}, 1},
		{"salerelay_delivery_attempts_total", []string{"outcome", "delivered"}, 6},
		{"salerelay_delivery_attempts_total", []string{"outcome", "retried"}, 0},
		{"salerelay_delivery_attempts_total", []string{"outcome", "dead_lettered"}, 1},
		{"salerelay_events_published_total", []string{"event", "sale:confirmed"}, 4},
		{"salerelay_events_published_total", []string{"event", "sale:rejected"}, 2},
		{"salerelay_duplicates_suppressed_total", nil, 1},
		{"salerelay_stale_decisions_total", nil, 1},
		{"salerelay_queue_pending_messages", nil, 0},
		{"salerelay_dlq_records", nil, 1},
		{"salerelay_delivery_paused", nil, 0},
		{"salerelay_publisher_requests_total", []string{"outcome", "queued"}, 1},
		{"salerelay_publisher_requests_total", []string{"outcome", "unauthorized"}, 1},
		{"salerelay_publisher_requests_total", []string{"outcome", "invalid"}, 0},
		{"salerelay_publisher_requests_total", []string{"outcome", "unavailable"}, 0},
		{"salerelay_reconcile_runs_total", []string{"outcome", "ok"}, 1},
		{"salerelay_reconcile_runs_total", []string{"outcome", "error"}, 0},
		{"salerelay_reconcile_scanned_total", nil, 1},
		{"salerelay_reconcile_found_total", nil, 1},
	}
	for _, c := range counts {
		if got := metricValue(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	histograms := []struct {
		name      string
		labels    []string
		wantCount uint64
		minBucket float64 // the smallest bucket must be at most this
		maxBucket float64 // the largest finite bucket must be at least this
	}{
		// 7 queued and 1 refused by the stream; ignored ones never reach the queue.
		{"salerelay_webhook_enqueue_seconds", nil, 8, 0.001, 10},
		{"salerelay_delivery_latency_seconds", []string{"from", "received"}, 6, 0.01, 600},
		{"salerelay_delivery_latency_seconds", []string{"from", "updated"}, 6, 0.01, 600},
	}
	for _, c := range histograms {
		got := histogram(t, fams, c.name, c.labels...)
		if got.GetSampleCount() != c.wantCount {
			t.Errorf("%s%v count = %d, want %d", c.name, c.labels, got.GetSampleCount(),
				c.wantCount)
		}
		buckets := got.GetBucket()
		if len(buckets) == 0 || buckets[0].GetUpperBound() > c.minBucket ||
			buckets[len(buckets)-1].GetUpperBound() < c.maxBucket {
			t.Errorf("%s buckets %v, want from at most %vs to at least %vs", c.name,
				bucketBounds(buckets), c.minBucket, c.maxBucket)
		}
	}
	// Batches vary with timing; the events in them do not.
	if got := histogram(t, fams, "salerelay_pusher_batch_size").GetSampleSum(); got != 6 {
		t.Errorf("salerelay_pusher_batch_size sum = %v, want 6 events sent", got)
	}

	if got := len(s.pusher.Events()); got != 6 {
		t.Errorf("pusher stand-in received %d events, want 6", got)
	}
	assertNoSecrets(t, s.logs.String(), append(sent, cfg.PusherSecret, cfg.WebhookSignatureKey,
		opsPublisherKey, opsAdminToken, opsAppwriteKey)...)
}

// TestJSONLogsCarryDecisionsAndNoSecrets reads the App's JSON log after a queued, an
// ignored, a refused (401) and a dead-lettered webhook, a delivery, the old endpoint and
// the admin API: every line is a JSON object with snake_case keys, the decision lines
// carry the sale and decision, and no line holds a secret or a payload.
func TestJSONLogsCarryDecisionsAndNoSecrets(t *testing.T) {
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	cfg.PublisherAPIKey = opsPublisherKey
	cfg.AdminToken = opsAdminToken
	s := startStack(t, cfg, nil, events.StreamOptions{})

	cases := map[string]fixtureCase{}
	for _, c := range fx.Cases {
		cases[c.Name] = c
	}
	var sent []string
	for _, name := range []string{"v18-update-verified", "v18-update-deleted", "bad-signature",
		"other-collection"} {
		c := cases[name]
		if status, answer := s.post("/webhooks/appwrite", c.body(t, fx), c.header()); status != c.Expect.Status {
			t.Fatalf("%s: status %d, want %d (answer %v)", name, status, c.Expect.Status, answer)
		}
		sent = append(sent, c.Headers["X-Appwrite-Webhook-Signature"])
	}
	sent = append(sent, s.sendSale(fx, deadLetterSale, deadLetterUserID, "VERIFIED",
		"2026-11-20T15:10:00.000+00:00", true))
	s.publish(opsPublisherKey, publisherSale, http.StatusOK)
	s.admin(opsAdminToken, http.StatusOK)
	s.admin("wrong-token", http.StatusUnauthorized)
	s.waitEvents(3)
	s.waitIdle()

	lines := parseJSONLines(t, s.logs.String())
	want := []struct {
		msg, level string
		attrs      map[string]string // "" means present with any value
	}{
		{"webhook queued", "INFO", map[string]string{"sale_id": confirmedSale,
			"decision": "confirmed", "seq": ""}},
		{"webhook queued", "INFO", map[string]string{"sale_id": rejectedSale,
			"decision": "rejected"}},
		{"webhook refused", "WARN", map[string]string{"reason": "", "webhook_id": "wh_sales_01"}},
		{"webhook ignored", "INFO", map[string]string{"sale_id": "69c95d44001f7a2b6c08",
			"reason": "another collection"}},
		{"event delivered", "INFO", map[string]string{"sale_id": confirmedSale,
			"decision": "confirmed", "event": "sale:confirmed", "source": "webhook"}},
		{"event delivered", "INFO", map[string]string{"sale_id": rejectedSale,
			"decision": "rejected", "event": "sale:rejected", "source": "webhook"}},
		{"event delivered", "INFO", map[string]string{"sale_id": publisherSale,
			"decision": "rejected", "source": "publisher"}},
		{"event dead-lettered", "ERROR", map[string]string{"sale_id": deadLetterSale,
			"decision": "confirmed", "class": "permanent", "reason": "", "attempt": "0",
			"dlq_id": "", "err": ""}},
		{"publisher decision queued", "INFO", map[string]string{"sale_id": publisherSale,
			"decision": "rejected", "source": "publisher"}},
	}
	for _, w := range want {
		if !containsLine(lines, w.msg, w.level, w.attrs) {
			t.Errorf("no %s line %q with %v in the log:\n%s", w.level, w.msg, w.attrs,
				s.logs.String())
		}
	}

	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, line := range lines {
		for _, key := range []string{"time", "level", "msg"} {
			if _, ok := line[key]; !ok {
				t.Errorf("log line %v has no %q", line, key)
			}
		}
		for key := range line {
			if !snake.MatchString(key) {
				t.Errorf("log key %q is not snake_case in %v", key, line)
			}
		}
	}
	assertNoSecrets(t, s.logs.String(), append(sent, cfg.PusherSecret, cfg.WebhookSignatureKey,
		opsPublisherKey, opsAdminToken)...)
}

// TestTextLogsWithLogFormatText runs the App with the logger `serve` builds for
// LOG_FORMAT=text: key=value lines, no JSON, debug lines held back at LOG_LEVEL=info.
func TestTextLogsWithLogFormatText(t *testing.T) {
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	cfg.LogFormat, cfg.LogLevel = "text", "info"
	logs := &syncBuffer{}
	s := startStackLogger(t, cfg, NewLogger(logs, cfg.LogLevel, cfg.LogFormat))

	c := fx.Cases[0]
	if status, answer := s.post("/webhooks/appwrite", c.body(t, fx), c.header()); status != 200 {
		t.Fatalf("webhook answered %d %v, want 200", status, answer)
	}
	s.waitEvents(1)
	s.waitIdle()

	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="webhook queued" sale_id=` + confirmedSale + ` decision=confirmed seq=`,
		`level=INFO msg="event delivered" sale_id=` + confirmedSale + ` decision=confirmed ` +
			`event=sale:confirmed channel=sale-verification-` + fixtureUser + ` source=webhook`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text log lacks %q:\n%s", want, out)
		}
	}
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "time=") || strings.Contains(line, "level=DEBUG") {
			t.Errorf("text log line %q: want time=... first and no DEBUG at level info", line)
		}
	}
	assertNoSecrets(t, out, cfg.PusherSecret, cfg.WebhookSignatureKey,
		c.Headers["X-Appwrite-Webhook-Signature"])
}

// TestNewLoggerFormatsAndLevels checks the LOG_FORMAT and LOG_LEVEL spellings.
func TestNewLoggerFormatsAndLevels(t *testing.T) {
	tests := []struct {
		level, format string
		wantJSON      bool
		wantEnabled   slog.Level // lowest level written
	}{
		{"info", "json", true, slog.LevelInfo},
		{"debug", "JSON", true, slog.LevelDebug},
		{"WARN", "text", false, slog.LevelWarn},
		{"error", "Text", false, slog.LevelError},
		{"", "", true, slog.LevelInfo},
		{"loud", "json", true, slog.LevelInfo}, // Validate refuses it; info if it slips by
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf strings.Builder
			log := NewLogger(&buf, tt.level, tt.format)
			ctx := context.Background()
			if log.Enabled(ctx, tt.wantEnabled-1) || !log.Enabled(ctx, tt.wantEnabled) {
				t.Errorf("lowest enabled level is not %s", tt.wantEnabled)
			}
			log.Log(ctx, tt.wantEnabled, "probe", "sale_id", "s1")
			gotJSON := json.Valid([]byte(buf.String()))
			if gotJSON != tt.wantJSON {
				t.Errorf("line %q: JSON %v, want %v", buf.String(), gotJSON, tt.wantJSON)
			}
		})
	}
}

// TestReadyzFollowsTheQueue points the App at an external NATS server, stops that server
// and starts it again on the same port and store: /readyz answers 503 naming the check
// while it is gone and 200 once the client has reconnected; /healthz stays 200.
func TestReadyzFollowsTheQueue(t *testing.T) {
	fx := loadFixtures(t)
	port := freePort(t)
	store := t.TempDir()
	nats := startNATSServer(t, port, store)

	cfg := testConfig(t, fx, t.TempDir())
	cfg.NATSURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	s := startStack(t, cfg, nil, events.StreamOptions{})

	s.waitStatus("/readyz", http.StatusOK)
	s.expectStatus("/healthz", http.StatusOK)

	nats.Shutdown()
	nats.WaitForShutdown()
	answer := s.waitStatus("/readyz", http.StatusServiceUnavailable)
	if answer["ok"] != false || answer["check"] != checkNATS || answer["error"] == "" {
		t.Errorf("/readyz while NATS is down answered %v, want ok false, check %q and an error",
			answer, checkNATS)
	}
	s.expectStatus("/healthz", http.StatusOK)

	startNATSServer(t, port, store)
	s.waitStatus("/readyz", http.StatusOK)
	s.expectStatus("/healthz", http.StatusOK)

	// Ready means working: a webhook is queued and delivered on the reconnected client.
	c := fx.Cases[0]
	if status, answer := s.post("/webhooks/appwrite", c.body(t, fx), c.header()); status != 200 {
		t.Fatalf("webhook after reconnect answered %d %v, want 200", status, answer)
	}
	s.waitEvents(1)
	s.shutdown() // before the second server's cleanup stops it
}

// --- helpers -----------------------------------------------------------------------

// webhookHeader is what Appwrite 1.8 sends with body for a change of sale in the
// fixtures' database and collection, signed with the fixtures' key.
func webhookHeader(fx *fixtureSet, body []byte, action, saleID string) http.Header {
	prefix := fmt.Sprintf("databases.%s.collections.%s.documents.%s", fx.DatabaseID,
		fx.CollectionID, saleID)
	tables := fmt.Sprintf("databases.%s.tables.%s.rows.%s", fx.DatabaseID, fx.CollectionID,
		saleID)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Appwrite-Server v1.8.1. Please report abuse at security@appwrite.io")
	h.Set("X-Appwrite-Webhook-Id", "wh_sales_01")
	h.Set("X-Appwrite-Webhook-Events", prefix+"."+action+","+tables+"."+action+","+prefix)
	h.Set("X-Appwrite-Webhook-Name", "sales to salerelay")
	h.Set("X-Appwrite-Webhook-Project-Id", "alejo-taller")
	h.Set("X-Appwrite-Webhook-Signature",
		webhook.NewSigner(fx.WebhookURL, fx.SignatureKey).Sign(body))
	return h
}

// saleRow is a sale document as Appwrite serves it in webhooks and row lists.
func saleRow(id, user, state string, updated time.Time) map[string]any {
	return map[string]any{
		"$id": id, "buy_state": state, "user_id": user, "amount": 12.5,
		"products":     `[{"productId":"p-1001","productName":"Filtro de aceite","quantity":2,"price":6.25}]`,
		"currency":     "USD",
		"$createdAt":   updated.Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000-07:00"),
		"$updatedAt":   updated.UTC().Format("2006-01-02T15:04:05.000-07:00"),
		"$permissions": []string{`read("user:` + user + `")`},
		"$databaseId":  "shop", "$collectionId": "sales",
	}
}

// sendSale posts a signed update of one sale and checks the answer: 200 queued, or 503
// when queued is false. It returns the signature it sent.
func (s *stack) sendSale(fx *fixtureSet, id, user, state, updatedAt string, queued bool) string {
	s.t.Helper()
	updated, err := time.Parse("2006-01-02T15:04:05.000-07:00", updatedAt)
	if err != nil {
		s.t.Fatalf("bad test time %q: %v", updatedAt, err)
	}
	body, err := json.Marshal(saleRow(id, user, state, updated))
	if err != nil {
		s.t.Fatal(err)
	}
	h := webhookHeader(fx, body, "update", id)
	if queued {
		s.expectWebhook(h, body, http.StatusOK, map[string]any{"ok": true, "queued": true})
	} else {
		s.expectWebhook(h, body, http.StatusServiceUnavailable, map[string]any{"ok": false})
	}
	return h.Get("X-Appwrite-Webhook-Signature")
}

// expectWebhook posts body and checks the status and the given answer fields.
func (s *stack) expectWebhook(h http.Header, body []byte, status int, fields map[string]any) {
	s.t.Helper()
	got, answer := s.post("/webhooks/appwrite", body, h)
	if got != status {
		s.t.Fatalf("webhook answered %d %v, want %d", got, answer, status)
	}
	for k, v := range fields {
		if answer[k] != v {
			s.t.Fatalf("webhook answer %v: %s is %v, want %v", answer, k, answer[k], v)
		}
	}
}

// publish posts a rejection to the old endpoint with key and checks the status.
func (s *stack) publish(key, saleID string, status int) {
	s.t.Helper()
	body := fmt.Sprintf(`{"saleId":%q,"userId":%q,"decision":"rejected","amount":12.5}`,
		saleID, fixtureUser)
	h := http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}
	if got, answer := s.post("/sale-verification/publish", []byte(body), h); got != status {
		s.t.Fatalf("publish with key %q answered %d %v, want %d", key, got, answer, status)
	}
}

// admin lists the dead-letter records with token and checks the status.
func (s *stack) admin(token string, status int) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/admin/dlq", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET /admin/dlq: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		s.t.Fatalf("GET /admin/dlq answered %d, want %d", resp.StatusCode, status)
	}
}

// squeezeWorkStream limits the work stream to one byte, so that JetStream refuses every
// publish (DiscardNew) while the rest of the queue stays up. restoreWorkStream undoes it;
// it also runs when the test ends.
func (s *stack) squeezeWorkStream() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := s.app.broker.JS.Stream(ctx, events.WorkStream)
	if err != nil {
		s.t.Fatalf("read work stream: %v", err)
	}
	cfg := stream.CachedInfo().Config
	cfg.MaxBytes = 1
	if _, err := s.app.broker.JS.UpdateStream(ctx, cfg); err != nil {
		s.t.Fatalf("limit work stream: %v", err)
	}
	s.t.Cleanup(s.restoreWorkStream)
}

func (s *stack) restoreWorkStream() {
	s.t.Helper()
	if s.app.broker == nil {
		return // the app has stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, s.app.broker.JS, events.StreamOptions{}); err != nil {
		s.t.Errorf("restore work stream: %v", err)
	}
}

// scrape reads GET /metrics through the App's HTTP server.
func (s *stack) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /metrics answered %d, want 200", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// waitMetric polls /metrics until the series reaches want.
func (s *stack) waitMetric(name string, want float64, labels ...string) {
	s.t.Helper()
	var got float64
	ok := poll(30*time.Second, func() bool {
		got = metricValue(s.t, s.scrape(), name, labels...)
		return got == want
	})
	if !ok {
		s.t.Fatalf("%s%v is %v after 30s, want %v", name, labels, got, want)
	}
}

// metric finds the one series of name whose labels include the given name/value pairs.
func metric(t *testing.T, fams map[string]*dto.MetricFamily, name string,
	labels ...string) *dto.Metric {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	var found []*dto.Metric
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if match {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("/metrics has %d series %s%v, want 1", len(found), name, labels)
	}
	return found[0]
}

// metricValue is the value of a counter or gauge series.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string,
	labels ...string) float64 {
	t.Helper()
	m := metric(t, fams, name, labels...)
	switch fams[name].GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	default:
		t.Fatalf("%s is a %s, want a counter or gauge", name, fams[name].GetType())
		return 0
	}
}

func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string,
	labels ...string) *dto.Histogram {
	t.Helper()
	if typ := fams[name].GetType(); typ != dto.MetricType_HISTOGRAM {
		t.Fatalf("%s is a %s, want a histogram", name, typ)
	}
	return metric(t, fams, name, labels...).GetHistogram()
}

func bucketBounds(buckets []*dto.Bucket) []float64 {
	out := make([]float64, len(buckets))
	for i, b := range buckets {
		out[i] = b.GetUpperBound()
	}
	return out
}

// parseJSONLines decodes every log line; a line that is not a JSON object fails the test.
func parseJSONLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not a JSON object: %v", sc.Text(), err)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		t.Fatalf("no log lines")
	}
	return lines
}

// containsLine reports whether a line has msg, level and every attribute (with its value
// unless the wanted value is "").
func containsLine(lines []map[string]any, msg, level string, attrs map[string]string) bool {
	for _, line := range lines {
		if line["msg"] != msg || line["level"] != level {
			continue
		}
		match := true
		for k, want := range attrs {
			got, ok := line[k]
			if !ok || (want != "" && fmt.Sprint(got) != want) {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

// assertNoSecrets fails for every secret, signature or payload fragment found in logs.
func assertNoSecrets(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	// Whole documents must not be logged either: these only occur inside a payload.
	secrets = append(secrets, "Filtro de aceite", "$permissions")
	for _, secret := range secrets {
		if secret == "" {
			t.Fatalf("empty secret in the list: the test is wrong")
		}
		for line := range strings.Lines(logs) {
			if strings.Contains(line, secret) {
				t.Errorf("log holds %q: %s", secret, line)
				break
			}
		}
	}
}

// waitStatus polls GET path until it answers status, and returns the decoded answer.
func (s *stack) waitStatus(path string, status int) map[string]any {
	s.t.Helper()
	var got int
	var answer map[string]any
	ok := poll(30*time.Second, func() bool {
		got, answer = s.get(path)
		return got == status
	})
	if !ok {
		s.t.Fatalf("GET %s answered %d %v for 30s, want %d", path, got, answer, status)
	}
	return answer
}

func (s *stack) expectStatus(path string, status int) {
	s.t.Helper()
	if got, answer := s.get(path); got != status {
		s.t.Errorf("GET %s answered %d %v, want %d", path, got, answer, status)
	}
}

func (s *stack) get(path string) (int, map[string]any) {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer map[string]any
	if err := json.Unmarshal(raw, &answer); err != nil {
		s.t.Fatalf("GET %s: answer %q is not JSON: %v", path, raw, err)
	}
	return resp.StatusCode, answer
}

// startNATSServer starts a JetStream server in-process on a fixed loopback port, standing
// in for an external one; it is shut down when the test ends.
func startNATSServer(t *testing.T, port int, storeDir string) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		ServerName: "salerelay-test-external",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats server on port %d not ready after 10s", port)
	}
	return srv
}

// startStackLogger is startStack with the App logging to log instead of the harness's
// JSON buffer (s.logs stays empty).
func startStackLogger(t *testing.T, cfg config.Config, log *slog.Logger) *stack {
	t.Helper()
	pusher := pusherlocal.New(pusherlocal.Config{
		AppID: cfg.PusherAppID, Key: cfg.PusherKey, Secret: cfg.PusherSecret,
	})
	host, err := pusher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start pusher stand-in: %v", err)
	}
	t.Cleanup(func() { pusher.Close() })
	cfg.PusherHost = host

	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, Options{Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		cancel()
		t.Fatalf("start app: %v", err)
	}
	s := &stack{t: t, app: a, pusher: pusher, url: "http://" + a.Addr(), cfg: cfg,
		stop: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	go func() { s.done <- a.Run(ctx) }()
	t.Cleanup(s.shutdown)
	return s
}

// appwriteRows is a stand-in of Appwrite's list-rows endpoint serving fixed rows to the
// periodic reconcile, and refusing any other API key.
type appwriteRows struct {
	*httptest.Server
}

func newAppwriteRows(t *testing.T, database, table string, rows ...map[string]any) appwriteRows {
	t.Helper()
	for _, row := range rows {
		delete(row, "$collectionId") // TablesDB rows carry $tableId
		row["$tableId"] = table
	}
	page, err := json.Marshal(map[string]any{"total": len(rows), "rows": rows})
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tablesdb/{db}/tables/{table}/rows",
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.Header.Get("X-Appwrite-Key") != opsAppwriteKey ||
				r.PathValue("db") != database || r.PathValue("table") != table {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"message":"unauthorized","code":401}`)
				return
			}
			_, _ = w.Write(page)
		})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return appwriteRows{srv}
}
