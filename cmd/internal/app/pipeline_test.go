package app

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// TestFixturesEndToEnd sends every real-shaped Appwrite request of the shared fixtures
// through the HTTP handler, JetStream, the worker and the Pusher stand-in, and checks the
// answers and that exactly the expected events arrive.
func TestFixturesEndToEnd(t *testing.T) {
	fx := loadFixtures(t)
	s := startStack(t, testConfig(t, fx, t.TempDir()), nil, events.StreamOptions{})

	runFixtureSuite(t, s, fx)
}

// containsEvent compares payloads key by key after decoding, so that JSON types and
// nulls must match but key order does not.
func containsEvent(t *testing.T, got []pusherlocal.Event, w fixtureEvent) bool {
	t.Helper()
	var wantPayload map[string]any
	if err := json.Unmarshal(w.Payload, &wantPayload); err != nil {
		t.Fatalf("fixture payload: %v", err)
	}
	for _, g := range got {
		var gotPayload map[string]any
		if err := json.Unmarshal([]byte(g.Data), &gotPayload); err != nil {
			t.Fatalf("event data %q is not JSON: %v", g.Data, err)
		}
		if g.Channel == w.Channel && g.Name == w.Event && reflect.DeepEqual(gotPayload, wantPayload) {
			return true
		}
	}
	return false
}

// TestQueuedWebhookSurvivesRestart stops the process after Appwrite got its 200 and
// before Pusher could be reached, then starts it again on the same data: the event is
// delivered.
func TestQueuedWebhookSurvivesRestart(t *testing.T) {
	fx := loadFixtures(t)
	cfg := testConfig(t, fx, t.TempDir())

	pusher := pusherlocal.New(pusherlocal.Config{
		AppID: cfg.PusherAppID, Key: cfg.PusherKey, Secret: cfg.PusherSecret,
	})
	host, err := pusher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pusher.Close() })
	cfg.PusherHost = host
	pusher.RefuseConnections(true)

	first := startStack(t, cfg, pusher, events.StreamOptions{})
	c := fx.Cases[0]
	if status, answer := first.post("/webhooks/appwrite", c.body(t, fx), c.header()); status != 200 ||
		answer["queued"] != true {
		t.Fatalf("webhook answered %d %v, want 200 queued", status, answer)
	}
	first.shutdown()
	if n := len(pusher.Events()); n != 0 {
		t.Fatalf("pusher refused connections but recorded %d events", n)
	}

	pusher.RefuseConnections(false)
	second := startStack(t, cfg, pusher, events.StreamOptions{})
	// Usually the first instance handed the message back and it comes at once. If the
	// server had just sent it to the stopping subscription, it comes back when the
	// consumer's ack wait (30 s) runs out: late, never lost.
	got := second.waitEventsWithin(1, 45*time.Second)
	if got[0].Channel != c.Expect.Events[0].Channel || got[0].Name != c.Expect.Events[0].Event {
		t.Errorf("after restart got %s on %s, want %s on %s", got[0].Name, got[0].Channel,
			c.Expect.Events[0].Event, c.Expect.Events[0].Channel)
	}
	second.waitIdle()
	if n := len(pusher.Events()); n != 1 {
		t.Errorf("got %d events after restart, want exactly 1", n)
	}
}
