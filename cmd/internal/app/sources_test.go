package app

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/salerelay/salerelay/events"
)

// TestPublisherThenWebhookMakeOneEvent reports one decision through the old publisher
// endpoint (as the operator app does) and then through the Appwrite webhook: the customer
// gets one event.
func TestPublisherThenWebhookMakeOneEvent(t *testing.T) {
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())
	cfg.PublisherAPIKey = "publisher-key-for-test"
	s := startStack(t, cfg, nil, events.StreamOptions{})

	c := fx.Cases[0] // v18-update-verified
	want := c.Expect.Events[0]
	var payload struct {
		SaleID string `json:"saleId"`
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal(want.Payload, &payload); err != nil {
		t.Fatal(err)
	}

	body, _ := json.Marshal(map[string]any{
		"saleId": payload.SaleID, "userId": payload.UserID, "decision": "confirmed",
		"amount": 20.5, "productCount": 4,
	})
	header := http.Header{"Authorization": {"Bearer " + cfg.PublisherAPIKey},
		"Content-Type": {"application/json"}}
	status, answer := s.post("/sale-verification/publish", body, header)
	if status != http.StatusOK || answer["channel"] != want.Channel ||
		answer["eventName"] != want.Event {
		t.Fatalf("publisher answered %d %v, want 200 with channel %s and %s", status, answer,
			want.Channel, want.Event)
	}
	got := s.waitEvents(1)

	status, answer = s.post("/webhooks/appwrite", c.body(t, fx), c.header())
	if status != http.StatusOK || answer["queued"] != true {
		t.Fatalf("webhook answered %d %v, want 200 queued", status, answer)
	}
	s.waitIdle()

	if got = s.pusher.Events(); len(got) != 1 {
		t.Fatalf("got %d events for one decision reported twice, want 1: %+v", len(got), got)
	}
	if got[0].Channel != want.Channel || got[0].Name != want.Event {
		t.Errorf("got %s on %s, want %s on %s", got[0].Name, got[0].Channel, want.Event,
			want.Channel)
	}
}

// TestHealthAnswers checks the fixed health endpoints of SPEC §4.
func TestHealthAnswers(t *testing.T) {
	fx := loadFixtures(t)
	s := startStack(t, testConfig(t, fx, t.TempDir()), nil, events.StreamOptions{})
	s.waitRunning()

	for _, tc := range []struct {
		path string
		want string
	}{
		{"/health", `{"ok":true,"service":"salerelay"}`},
		{"/healthz", `{"ok":true}`},
		{"/readyz", `{"ok":true}`},
	} {
		resp, err := http.Get(s.url + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		var got, want any
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		resp.Body.Close()
		_ = json.Unmarshal([]byte(tc.want), &want)
		if resp.StatusCode != http.StatusOK || !jsonEqual(got, want) {
			t.Errorf("GET %s = %d %v, want 200 %s", tc.path, resp.StatusCode, got, tc.want)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
