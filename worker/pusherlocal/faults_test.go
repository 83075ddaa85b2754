package pusherlocal

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pusher/pusher-http-go/v5"
)

func TestFailNextFailsThatManyThenSucceeds(t *testing.T) {
	f := newFixture(t, Config{})
	f.srv.FailNext(3, http.StatusInternalServerError)

	var got []int
	for range 4 {
		got = append(got, statusOf(f.client.Trigger("c", "e", "{}")))
	}

	want := []int{500, 500, 500, 200}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if n := len(f.srv.Events()); n != 1 {
		t.Errorf("recorded %d events, want 1", n)
	}
	if n := f.srv.Requests(); n != 4 {
		t.Errorf("Requests() = %d, want 4", n)
	}
}

func TestFaultsThatActOnTheProbe(t *testing.T) {
	tests := []struct {
		name    string
		inject  func(*Server)
		trigger int
		probe   int
	}{
		{name: "FailAll", inject: func(s *Server) { s.FailAll(503) },
			trigger: 503, probe: 503},
		{name: "FailNext", inject: func(s *Server) { s.FailNext(5, 500) },
			trigger: 500, probe: 200},
		{name: "FailChannel", inject: func(s *Server) { s.FailChannel("c", 429) },
			trigger: 429, probe: 200},
		{name: "healed", inject: func(s *Server) { s.FailAll(503); s.Heal() },
			trigger: 200, probe: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			tt.inject(f.srv)

			_, probeErr := f.client.Channels(pusher.ChannelsParams{})
			triggerErr := f.client.Trigger("c", "e", "{}")

			if got := statusOf(probeErr); got != tt.probe {
				t.Errorf("probe status = %d (err %v), want %d", got, probeErr, tt.probe)
			}
			if got := statusOf(triggerErr); got != tt.trigger {
				t.Errorf("trigger status = %d (err %v), want %d", got, triggerErr, tt.trigger)
			}
		})
	}
}

func TestFailChannelFailsOnlyRequestsThatTouchIt(t *testing.T) {
	failing := pusher.Event{Channel: "sale-verification-bad", Name: "e", Data: "1"}
	healthy := pusher.Event{Channel: "sale-verification-ok", Name: "e", Data: "2"}
	tests := []struct {
		name  string
		batch []pusher.Event
		want  int
		count int
	}{
		{name: "healthy channel", batch: []pusher.Event{healthy}, want: 200, count: 1},
		{name: "failing channel", batch: []pusher.Event{failing}, want: 429},
		{name: "batch touching it fails whole", batch: []pusher.Event{healthy, failing},
			want: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.srv.FailChannel(failing.Channel, http.StatusTooManyRequests)

			_, err := f.client.TriggerBatch(tt.batch)

			if got := statusOf(err); got != tt.want {
				t.Errorf("status = %d (err %v), want %d", got, err, tt.want)
			}
			if got := len(f.srv.Events()); got != tt.count {
				t.Errorf("recorded %d events, want %d", got, tt.count)
			}
		})
	}
}

func TestRefuseConnectionsGivesNetworkErrorNotStatus(t *testing.T) {
	f := newFixture(t, Config{})
	f.srv.RefuseConnections(true)

	triggerErr := f.client.Trigger("c", "e", "{}")
	_, probeErr := f.client.Channels(pusher.ChannelsParams{})

	for name, err := range map[string]error{"Trigger": triggerErr, "Channels": probeErr} {
		var urlErr *url.Error
		if !errors.As(err, &urlErr) {
			t.Errorf("%s error = %v (%T), want a *url.Error", name, err, err)
		}
		if err != nil && strings.Contains(err.Error(), "Status Code") {
			t.Errorf("%s error = %v, want no HTTP status", name, err)
		}
	}
	assertNothingRecorded(t, f.srv)
	if got := f.srv.Requests(); got != 1 {
		t.Errorf("Requests() = %d, want 1", got)
	}

	f.srv.RefuseConnections(false)
	if err := f.client.Trigger("c", "e", "{}"); err != nil {
		t.Errorf("Trigger after RefuseConnections(false): %v", err)
	}
}

// TestAcceptEmptyBodyRecordsDespiteClientError covers the answer pusher-http-go cannot
// decode: the client reports an error (with no status, as the answer was 200) although
// Pusher took the event.
func TestAcceptEmptyBodyRecordsDespiteClientError(t *testing.T) {
	f := newFixture(t, Config{})
	f.srv.AcceptEmptyBody(true)

	err := f.client.Trigger("c", "e", "{}")

	if err == nil || statusOf(err) != 0 {
		t.Errorf("Trigger error = %v, want a decode error without a status", err)
	}
	if got := len(f.srv.Events()); got != 1 {
		t.Errorf("recorded %d events, want 1", got)
	}
}

func TestLatencyIsHonouredAndCutShortByTheClient(t *testing.T) {
	f := newFixture(t, Config{})
	const delay = 50 * time.Millisecond
	f.srv.SetLatency(delay)

	start := time.Now()
	if err := f.client.Trigger("c", "e", "{}"); err != nil {
		t.Fatalf("Trigger with latency: %v", err)
	}
	if got := time.Since(start); got < delay {
		t.Errorf("Trigger answered after %s, want at least %s", got, delay)
	}

	f.srv.SetLatency(time.Hour)
	f.client.HTTPClient.Timeout = delay
	err := f.client.Trigger("c", "e", "{}")
	if urlErr := (*url.Error)(nil); !errors.As(err, &urlErr) || !urlErr.Timeout() {
		t.Errorf("Trigger error = %v, want a client timeout", err)
	}
	if got := len(f.srv.Events()); got != 1 {
		t.Errorf("recorded %d events, want 1 (the timed-out one must not count)", got)
	}
}
