package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/events/broker/brokertest"
	"github.com/salerelay/salerelay/webhook"
)

const hookFixtureDir = "../cmd/internal/app/testdata/webhooks"

const (
	hookURL = "https://relay.example.com/webhooks/appwrite"
	hookKey = "handler-test-key-3c9e"
)

// hookConfig accepts sales of collection "sales" in database "shop", signed with hookKey.
func hookConfig() webhook.Config {
	return webhook.Config{
		URL:          hookURL,
		SignatureKey: hookKey,
		DatabaseID:   "shop",
		CollectionID: "sales",
		Mapping:      events.DefaultMapping(),
	}
}

// openHookBroker starts an embedded JetStream server with salerelay's streams.
func openHookBroker(t *testing.T) *broker.Broker {
	t.Helper()
	return brokertest.Start(t, events.StreamOptions{})
}

// startHookServer serves the webhook handler over HTTP until the test ends.
func startHookServer(t *testing.T, cfg webhook.Config, q events.Enqueuer) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(webhook.New(cfg, q, log, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// hookRequest is one request to the webhook; user and password set Basic auth.
type hookRequest struct {
	method         string // default POST
	body           []byte
	header         map[string]string
	user, password string
}

type hookAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func sendHook(t *testing.T, url string, r hookRequest) hookAnswer {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url+"/webhooks/appwrite", bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.user != "" || r.password != "" {
		req.SetBasicAuth(r.user, r.password)
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s webhook: %v", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}

	a := hookAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", raw, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return a
}

// check fails unless the answer has status and exactly the JSON object want.
func (a hookAnswer) check(t *testing.T, status int, want map[string]any) {
	t.Helper()
	if a.status != status {
		t.Errorf("status = %d, want %d (answer %s)", a.status, status, a.raw)
	}
	if !reflect.DeepEqual(a.body, want) {
		t.Errorf("answer = %s, want %v", strings.TrimSpace(a.raw), want)
	}
}

var queuedAnswer = map[string]any{"ok": true, "queued": true}

func ignoredAnswer(reason string) map[string]any {
	return map[string]any{"ok": true, "queued": false, "ignored": reason}
}

func errorAnswer(msg string) map[string]any { return map[string]any{"ok": false, "error": msg} }

// hookSaleFields is a confirmed sale as Appwrite 1.8 sends it, raw JSON by field.
var hookSaleFields = map[string]string{
	"$id":           `"sale-1"`,
	"user_id":       `"user-1"`,
	"buy_state":     `"VERIFIED"`,
	"amount":        `20.5`,
	"products":      `"[{\"productId\":\"p-1\",\"quantity\":2},{\"productId\":\"p-2\",\"quantity\":1}]"`,
	"$sequence":     `17`,
	"$updatedAt":    `"2025-11-03T10:16:05.112+00:00"`,
	"$databaseId":   `"shop"`,
	"$collectionId": `"sales"`,
	"$permissions":  `["read(\"user:user-1\")"]`,
	"note":          `"pickup at 5\/6"`,
}

// saleBody encodes hookSaleFields with changes: a raw JSON value replaces a field, ""
// removes it.
func saleBody(changes map[string]string) []byte {
	fields := maps.Clone(hookSaleFields)
	for k, v := range changes {
		if v == "" {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(fields)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", k, fields[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// signedHeaders are the headers Appwrite sends for body: the events list for action on
// document id, and the signature over hookURL and body.
func signedHeaders(body []byte, action, id string) map[string]string {
	return map[string]string{
		"Content-Type": "application/json",
		"User-Agent":   "Appwrite-Server v1.8.1. Please report abuse at security@appwrite.io",
		"X-Appwrite-Webhook-Events": "databases.shop.collections.sales.documents." + id + "." +
			action + ",databases.shop.tables.sales.rows." + id + "." + action +
			",databases.*.collections.*.documents.*." + action,
		"X-Appwrite-Webhook-Id":        "wh_test",
		"X-Appwrite-Webhook-Signature": appwriteSignature(hookKey, hookURL, body),
	}
}

// storedDecisions returns the work stream's messages, oldest first.
func storedDecisions(t *testing.T, js jetstream.JetStream) []brokertest.Stored {
	t.Helper()
	return brokertest.WorkMessages(t, js)
}

func TestWebhookRefusesBadSignature(t *testing.T) {
	b := openHookBroker(t)
	url := startHookServer(t, hookConfig(), events.NewQueue(b.JS))
	body := saleBody(nil)

	tests := []struct {
		name   string
		body   []byte
		change func(h map[string]string)
	}{
		{"wrong signature", body, func(h map[string]string) {
			h["X-Appwrite-Webhook-Signature"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}},
		{"missing signature", body, func(h map[string]string) {
			delete(h, "X-Appwrite-Webhook-Signature")
		}},
		{"signed with another key", body, func(h map[string]string) {
			h["X-Appwrite-Webhook-Signature"] = appwriteSignature("other-key", hookURL, body)
		}},
		{"signed for another URL", body, func(h map[string]string) {
			h["X-Appwrite-Webhook-Signature"] = appwriteSignature(hookKey,
				"https://evil.example.com/webhooks/appwrite", body)
		}},
		{"body changed after signing", bytes.Replace(body, []byte(`5\/6`), []byte(`5/6`), 1),
			func(map[string]string) {}},
		{"not JSON and unsigned", []byte("garbage"), func(h map[string]string) {
			delete(h, "X-Appwrite-Webhook-Signature")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := signedHeaders(body, "update", "sale-1")
			tt.change(h)
			sendHook(t, url, hookRequest{body: tt.body, header: h}).
				check(t, http.StatusUnauthorized, errorAnswer("Unauthorized"))
		})
	}
	if got := storedDecisions(t, b.JS); len(got) != 0 {
		t.Errorf("work stream holds %d messages after refused webhooks, want 0", len(got))
	}
}

func TestWebhookBasicAuth(t *testing.T) {
	b := openHookBroker(t)
	cfg := hookConfig()
	cfg.User = "appwrite"
	cfg.Password = "hook-pass-91"
	url := startHookServer(t, cfg, events.NewQueue(b.JS))

	tests := []struct {
		name           string
		user, password string
		badSignature   bool
		wantStatus     int
	}{
		{name: "missing", wantStatus: http.StatusUnauthorized},
		{name: "wrong password", user: "appwrite", password: "nope", wantStatus: http.StatusUnauthorized},
		{name: "wrong user", user: "admin", password: "hook-pass-91", wantStatus: http.StatusUnauthorized},
		{name: "empty password", user: "appwrite", wantStatus: http.StatusUnauthorized},
		{name: "right but bad signature", user: "appwrite", password: "hook-pass-91",
			badSignature: true, wantStatus: http.StatusUnauthorized},
		{name: "right", user: "appwrite", password: "hook-pass-91", wantStatus: http.StatusOK},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("sale-auth-%d", i)
			body := saleBody(map[string]string{"$id": `"` + id + `"`})
			h := signedHeaders(body, "update", id)
			if tt.badSignature {
				h["X-Appwrite-Webhook-Signature"] = appwriteSignature(hookKey, hookURL, []byte("{}"))
			}

			a := sendHook(t, url, hookRequest{body: body, header: h, user: tt.user,
				password: tt.password})
			if tt.wantStatus == http.StatusOK {
				a.check(t, http.StatusOK, queuedAnswer)
			} else {
				a.check(t, tt.wantStatus, errorAnswer("Unauthorized"))
			}
		})
	}
	if got := storedDecisions(t, b.JS); len(got) != 1 {
		t.Errorf("work stream holds %d messages, want 1 (the authorized one)", len(got))
	}
}

func TestWebhookRejectsBodyThatIsNotAnObject(t *testing.T) {
	b := openHookBroker(t)
	url := startHookServer(t, hookConfig(), events.NewQueue(b.JS))

	for _, body := range []string{`[{"$id":"sale-1","buy_state":"VERIFIED"}]`, `[]`,
		`"a string"`, `42`, `null`, `garbage`, `{"$id":`, ``} {
		t.Run(body, func(t *testing.T) {
			h := signedHeaders([]byte(body), "update", "sale-1")
			sendHook(t, url, hookRequest{body: []byte(body), header: h}).
				check(t, http.StatusBadRequest, errorAnswer("document is not a JSON object"))
		})
	}
}

func TestWebhookBodySizeLimit(t *testing.T) {
	b := openHookBroker(t)
	cfg := hookConfig()
	cfg.MaxBodyBytes = 1024
	url := startHookServer(t, cfg, events.NewQueue(b.JS))

	padded := func(id string, size int) []byte {
		body := saleBody(map[string]string{"$id": `"` + id + `"`, "pad": `""`})
		pad := strings.Repeat("x", size-len(body))
		return saleBody(map[string]string{"$id": `"` + id + `"`, "pad": `"` + pad + `"`})
	}

	atLimit := padded("sale-size-1", 1024)
	sendHook(t, url, hookRequest{body: atLimit, header: signedHeaders(atLimit, "update", "sale-size-1")}).
		check(t, http.StatusOK, queuedAnswer)

	over := padded("sale-size-2", 1025)
	sendHook(t, url, hookRequest{body: over, header: signedHeaders(over, "update", "sale-size-2")}).
		check(t, http.StatusRequestEntityTooLarge, errorAnswer("body over the size limit"))

	huge := padded("sale-size-3", 1<<20)
	sendHook(t, url, hookRequest{body: huge, header: signedHeaders(huge, "update", "sale-size-3")}).
		check(t, http.StatusRequestEntityTooLarge, errorAnswer("body over the size limit"))
}

func TestWebhookRefusesOtherMethods(t *testing.T) {
	url := startHookServer(t, hookConfig(), failingQueue{})
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			a := sendHook(t, url, hookRequest{method: method})
			a.check(t, http.StatusMethodNotAllowed, errorAnswer("method not allowed"))
			if allow := a.header.Get("Allow"); allow != http.MethodPost {
				t.Errorf("Allow = %q, want POST", allow)
			}
		})
	}
}

func TestWebhookIgnoresChangesWithoutDecision(t *testing.T) {
	b := openHookBroker(t)
	url := startHookServer(t, hookConfig(), events.NewQueue(b.JS))

	tests := []struct {
		name    string
		changes map[string]string
		action  string
		events  string // replaces X-Appwrite-Webhook-Events when set; "-" removes it
		reason  string
	}{
		{name: "delete of a confirmed sale", action: "delete", reason: "delete"},
		{name: "delete of a rejected sale", action: "delete",
			changes: map[string]string{"buy_state": `"DELETED"`}, reason: "delete"},
		{name: "another collection", action: "update",
			changes: map[string]string{"$collectionId": `"products"`}, reason: "another collection"},
		{name: "another table", action: "update",
			changes: map[string]string{"$collectionId": "", "$tableId": `"products"`},
			reason:  "another collection"},
		{name: "no collection at all", action: "update",
			changes: map[string]string{"$collectionId": ""}, reason: "another collection"},
		{name: "another database", action: "update",
			changes: map[string]string{"$databaseId": `"staging"`}, reason: "another database"},
		{name: "UNVERIFIED", action: "update",
			changes: map[string]string{"buy_state": `"UNVERIFIED"`}, reason: "undecided state"},
		{name: "unknown state", action: "create",
			changes: map[string]string{"buy_state": `"SHIPPED"`}, reason: "undecided state"},
		{name: "missing state", action: "update",
			changes: map[string]string{"buy_state": ""}, reason: "undecided state"},
		{name: "events header of another service", events: "users.42.update",
			reason: "not a document change"},
		{name: "events header of a collection", events: "databases.shop.collections.sales.update",
			reason: "not a document change"},
		{name: "events header junk", events: "whatever", reason: "not a document change"},
		{name: "events header missing", events: "-", reason: "not a document change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := saleBody(tt.changes)
			h := signedHeaders(body, tt.action, "sale-1")
			switch tt.events {
			case "":
			case "-":
				delete(h, "X-Appwrite-Webhook-Events")
			default:
				h["X-Appwrite-Webhook-Events"] = tt.events
			}
			sendHook(t, url, hookRequest{body: body, header: h}).
				check(t, http.StatusOK, ignoredAnswer(tt.reason))
		})
	}
	if got := storedDecisions(t, b.JS); len(got) != 0 {
		t.Errorf("work stream holds %d messages after ignored webhooks, want 0", len(got))
	}
}

func TestWebhookQueuesDecisions(t *testing.T) {
	b := openHookBroker(t)
	url := startHookServer(t, hookConfig(), events.NewQueue(b.JS))

	tests := []struct {
		name     string
		id       string
		changes  map[string]string
		events   string // the first entry of X-Appwrite-Webhook-Events; "" for the default
		action   string
		decision events.Decision
		cause    string
	}{
		{name: "create", id: "sale-create", action: "create", decision: events.Confirmed},
		{name: "update", id: "sale-update", action: "update", decision: events.Confirmed},
		{name: "upsert", id: "sale-upsert", action: "upsert", decision: events.Confirmed},
		{name: "rejected", id: "sale-rejected", action: "update", decision: events.Rejected,
			changes: map[string]string{"buy_state": `"DELETED"`}, cause: `"rejected_by_operator"`},
		{name: "tables rows with $tableId", id: "sale-rows",
			changes: map[string]string{"$collectionId": "", "$tableId": `"sales"`},
			events:  "databases.shop.tables.sales.rows.sale-rows.update", decision: events.Confirmed},
		{name: "tablesdb prefix", id: "sale-tablesdb",
			changes: map[string]string{"$collectionId": "", "$tableId": `"sales"`},
			events:  "tablesdb.shop.tables.sales.rows.sale-tablesdb.upsert", decision: events.Confirmed},
		{name: "$sequence as a string", id: "sale-seq", action: "update",
			changes: map[string]string{"$sequence": `"17"`}, decision: events.Confirmed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := maps.Clone(tt.changes)
			if changes == nil {
				changes = map[string]string{}
			}
			changes["$id"] = `"` + tt.id + `"`
			body := saleBody(changes)
			h := signedHeaders(body, tt.action, tt.id)
			if tt.events != "" {
				h["X-Appwrite-Webhook-Events"] = tt.events
			}

			before := time.Now().UnixMilli()
			sendHook(t, url, hookRequest{body: body, header: h}).check(t, http.StatusOK, queuedAnswer)
			after := time.Now().UnixMilli()

			var got *brokertest.Stored
			for _, m := range storedDecisions(t, b.JS) {
				if m.Decision.SaleID == tt.id {
					got = &m
				}
			}
			if got == nil {
				t.Fatalf("no message for %s on the work stream", tt.id)
			}
			d := got.Decision
			if got.Subject != "sales.decisions.webhook" {
				t.Errorf("subject = %q, want sales.decisions.webhook", got.Subject)
			}
			if got.MsgID != d.MsgID() {
				t.Errorf("Nats-Msg-Id = %q, want %q", got.MsgID, d.MsgID())
			}
			if d.UserID != "user-1" || d.Decision != tt.decision || d.Timestamp != 1762164965112 ||
				d.Source != events.SourceWebhook {
				t.Errorf("stored user %q, decision %q, timestamp %d, source %q; want user-1, %s, "+
					"1762164965112, webhook", d.UserID, d.Decision, d.Timestamp, d.Source, tt.decision)
			}
			if string(d.Amount) != "20.5" || string(d.ProductCount) != "3" || string(d.Cause) != tt.cause {
				t.Errorf("stored amount %s, productCount %s, cause %s; want 20.5, 3, %s",
					d.Amount, d.ProductCount, d.Cause, tt.cause)
			}
			if d.ReceivedAt < before || d.ReceivedAt > after {
				t.Errorf("ReceivedAt = %d, want between %d and %d", d.ReceivedAt, before, after)
			}
		})
	}
}

func TestWebhookAcceptsAnyCollectionWhenUnset(t *testing.T) {
	b := openHookBroker(t)
	cfg := hookConfig()
	cfg.DatabaseID, cfg.CollectionID = "", ""
	url := startHookServer(t, cfg, events.NewQueue(b.JS))

	body := saleBody(map[string]string{"$databaseId": `"other"`, "$collectionId": `"orders"`})
	sendHook(t, url, hookRequest{body: body, header: signedHeaders(body, "update", "sale-1")}).
		check(t, http.StatusOK, queuedAnswer)
}

func TestWebhookMissingUpdatedAtUsesReceiveTime(t *testing.T) {
	b := openHookBroker(t)
	url := startHookServer(t, hookConfig(), events.NewQueue(b.JS))

	body := saleBody(map[string]string{"$updatedAt": ""})
	sendHook(t, url, hookRequest{body: body, header: signedHeaders(body, "update", "sale-1")}).
		check(t, http.StatusOK, queuedAnswer)

	stored := storedDecisions(t, b.JS)
	if len(stored) != 1 {
		t.Fatalf("work stream holds %d messages, want 1", len(stored))
	}
	if d := stored[0].Decision; d.Timestamp != d.ReceivedAt {
		t.Errorf("Timestamp = %d, want the receive time %d", d.Timestamp, d.ReceivedAt)
	}
}

func TestWebhookDuplicateIsIgnored(t *testing.T) {
	b := openHookBroker(t)
	url := startHookServer(t, hookConfig(), events.NewQueue(b.JS))

	body := saleBody(nil)
	req := hookRequest{body: body, header: signedHeaders(body, "update", "sale-1")}
	sendHook(t, url, req).check(t, http.StatusOK, queuedAnswer)
	sendHook(t, url, req).check(t, http.StatusOK, ignoredAnswer("duplicate"))

	// The same decision reported as a row event is the same message too.
	req.header["X-Appwrite-Webhook-Events"] = "tablesdb.shop.tables.sales.rows.sale-1.update"
	sendHook(t, url, req).check(t, http.StatusOK, ignoredAnswer("duplicate"))

	if got := storedDecisions(t, b.JS); len(got) != 1 {
		t.Errorf("work stream holds %d messages, want 1", len(got))
	}
}

// failingQueue is an Enqueuer whose queue is down.
type failingQueue struct{}

func (failingQueue) Enqueue(context.Context, events.SaleDecision) (events.Receipt, error) {
	return events.Receipt{}, fmt.Errorf("%w: test queue is down", events.ErrQueueUnavailable)
}

// stuckQueue is an Enqueuer that never answers before the caller gives up.
type stuckQueue struct{}

func (stuckQueue) Enqueue(ctx context.Context, _ events.SaleDecision) (events.Receipt, error) {
	<-ctx.Done()
	return events.Receipt{}, fmt.Errorf("%w: %w", events.ErrQueueUnavailable, ctx.Err())
}

func TestWebhookQueueFailureIs503(t *testing.T) {
	tests := []struct {
		name  string
		queue func(t *testing.T) events.Enqueuer
	}{
		{"queue refuses", func(*testing.T) events.Enqueuer { return failingQueue{} }},
		{"queue never answers", func(*testing.T) events.Enqueuer { return stuckQueue{} }},
		{"JetStream server stopped", func(t *testing.T) events.Enqueuer {
			return events.NewQueue(brokertest.Unreachable(t).JS)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hookConfig()
			cfg.Timeout = 200 * time.Millisecond
			url := startHookServer(t, cfg, tt.queue(t))

			body := saleBody(nil)
			start := time.Now()
			sendHook(t, url, hookRequest{body: body, header: signedHeaders(body, "update", "sale-1")}).
				check(t, http.StatusServiceUnavailable, errorAnswer("queue unavailable, try again"))
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("answered after %s, want about the %s enqueue timeout", elapsed, cfg.Timeout)
			}
		})
	}
}

// hookFixtures is cases.json: real-shaped, signed Appwrite 1.6 and 1.8 requests.
type hookFixtures struct {
	SignatureKey string `json:"signature_key"`
	WebhookURL   string `json:"webhook_url"`
	DatabaseID   string `json:"database_id"`
	CollectionID string `json:"collection_id"`
	Cases        []struct {
		Name     string            `json:"name"`
		BodyFile string            `json:"body_file"`
		Headers  map[string]string `json:"headers"`
		Expect   struct {
			Status int   `json:"status"`
			Queued *bool `json:"queued"`
			Events []struct {
				Channel string          `json:"channel"`
				Event   string          `json:"event"`
				Payload json.RawMessage `json:"payload"`
			} `json:"events"`
		} `json:"expect"`
	} `json:"cases"`
}

// loadHookFixtures reads cases.json; a file without cases fails the test.
func loadHookFixtures(t *testing.T) hookFixtures {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(hookFixtureDir, "cases.json"))
	if err != nil {
		t.Fatalf("read cases.json: %v", err)
	}
	var fx hookFixtures
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("decode cases.json: %v", err)
	}
	if len(fx.Cases) == 0 {
		t.Fatal("cases.json holds no cases")
	}
	return fx
}

// TestWebhookFixtures sends every fixture through the handler into JetStream and checks
// the answer and the event each stored decision turns into.
func TestWebhookFixtures(t *testing.T) {
	fx := loadHookFixtures(t)

	b := openHookBroker(t)
	url := startHookServer(t, webhook.Config{
		URL: fx.WebhookURL, SignatureKey: fx.SignatureKey,
		DatabaseID: fx.DatabaseID, CollectionID: fx.CollectionID,
		Mapping: events.DefaultMapping(),
	}, events.NewQueue(b.JS))

	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(hookFixtureDir, c.BodyFile))
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			before := len(storedDecisions(t, b.JS))

			a := sendHook(t, url, hookRequest{body: body, header: c.Headers})
			if a.status != c.Expect.Status {
				t.Fatalf("status = %d, want %d (answer %s)", a.status, c.Expect.Status, a.raw)
			}
			if c.Expect.Queued != nil && a.body["queued"] != *c.Expect.Queued {
				t.Errorf("queued = %v, want %v (answer %s)", a.body["queued"], *c.Expect.Queued, a.raw)
			}

			stored := storedDecisions(t, b.JS)[before:]
			if len(stored) != len(c.Expect.Events) {
				t.Fatalf("stored %d decisions, want %d", len(stored), len(c.Expect.Events))
			}
			for i, want := range c.Expect.Events {
				channel, name, data, err := stored[i].Decision.Event("sale-verification-")
				if err != nil {
					t.Fatalf("stored decision makes no event: %v", err)
				}
				if channel != want.Channel || name != want.Event {
					t.Errorf("event %s on %s, want %s on %s", name, channel, want.Event, want.Channel)
				}
				var wantData bytes.Buffer
				if err := json.Compact(&wantData, want.Payload); err != nil {
					t.Fatalf("compact expected payload: %v", err)
				}
				if !bytes.Equal(data, wantData.Bytes()) {
					t.Errorf("payload:\n got %s\nwant %s", data, wantData.Bytes())
				}
			}
		})
	}
}
