package worker

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestPusherSendClassifiesOutcomes sends one event through the real client to the
// stand-in under each failure and checks the class salerelay gives the outcome.
func TestPusherSendClassifiesOutcomes(t *testing.T) {
	e := newEnv(t)
	good := Event{Channel: testPrefix + "u1", Name: "sale:confirmed", Data: []byte(`{"a":1}`)}

	tests := []struct {
		name       string
		inject     func()
		ev         Event
		wantClass  Class // "" means accepted
		wantStatus int
		recorded   int // events the stand-in keeps
	}{
		{"accepted", func() {}, good, "", 0, 1},
		{"accepted with an empty body", func() { e.stand.AcceptEmptyBody(true) }, good, "", 0, 1},
		{"500", func() { e.stand.FailNext(1, 500) }, good, Transient, 500, 0},
		{"502", func() { e.stand.FailNext(1, 502) }, good, Transient, 502, 0},
		{"503", func() { e.stand.FailNext(1, 503) }, good, Transient, 503, 0},
		{"429", func() { e.stand.FailNext(1, 429) }, good, Transient, 429, 0},
		{"400", func() { e.stand.FailNext(1, 400) }, good, Permanent, 400, 0},
		{"401", func() { e.stand.FailNext(1, 401) }, good, Permanent, 401, 0},
		{"403", func() { e.stand.FailNext(1, 403) }, good, Permanent, 403, 0},
		{"404", func() { e.stand.FailNext(1, 404) }, good, Permanent, 404, 0},
		{"413", func() { e.stand.FailNext(1, 413) }, good, Permanent, 413, 0},
		{"connection refused", func() { e.stand.RefuseConnections(true) }, good, Transient, 0, 0},
		{"channel the client refuses to send", func() {},
			Event{Channel: "bad channel", Name: "sale:confirmed", Data: []byte(`{}`)},
			Permanent, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.stand.Heal()
			e.stand.AcceptEmptyBody(false)
			e.stand.Reset()
			tt.inject()

			err := e.sender.Send(t.Context(), []Event{tt.ev})
			var se *SendError
			switch {
			case tt.wantClass == "" && err != nil:
				t.Fatalf("Send: %v, want accepted", err)
			case tt.wantClass != "" && !errors.As(err, &se):
				t.Fatalf("Send: %v, want a *SendError of class %s", err, tt.wantClass)
			case tt.wantClass != "" && (se.Class != tt.wantClass || se.Status != tt.wantStatus):
				t.Errorf("Send: class %s status %d, want %s %d (%v)", se.Class, se.Status,
					tt.wantClass, tt.wantStatus, se)
			}
			if err != nil {
				for _, secret := range []string{testSecret, "auth_signature", "auth_key"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error text %q holds %q", err, secret)
					}
				}
			}
			if got := len(e.stand.Events()); got != tt.recorded {
				t.Errorf("stand-in recorded %d events, want %d", got, tt.recorded)
			}
		})
	}
}

// TestPusherProbe: the probe says Pusher is up unless it is down as a whole; a failing
// channel or a one-off trigger failure does not make it look down.
func TestPusherProbe(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		inject func()
		wantUp bool
	}{
		{"healthy", func() {}, true},
		{"one channel failing", func() { e.stand.FailChannel(testPrefix+"u1", 500) }, true},
		{"next triggers failing", func() { e.stand.FailNext(5, 503) }, true},
		{"every call 503", func() { e.stand.FailAll(http.StatusServiceUnavailable) }, false},
		{"every call 500", func() { e.stand.FailAll(http.StatusInternalServerError) }, false},
		{"connections refused", func() { e.stand.RefuseConnections(true) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.stand.Heal()
			tt.inject()
			err := e.sender.Probe(t.Context())
			if gotUp := err == nil; gotUp != tt.wantUp {
				t.Errorf("probe up = %v (err %v), want %v", gotUp, err, tt.wantUp)
			}
		})
	}
}
