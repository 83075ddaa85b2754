package pusherlocal

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pusher/pusher-http-go/v5"
)

func TestRecordsAcceptedEventExactlyAsSent(t *testing.T) {
	now := time.Now()
	f := newFixture(t, Config{Clock: func() time.Time { return now }})
	data := `{"saleId":"69c9593b002b167bf4fb","userId":"u1","decision":"confirmed",` +
		`"timestamp":"1719936000000","amount":20.5,"productCount":4,` +
		`"type":"sale:confirmed","cause":null}`

	if err := f.client.Trigger("sale-verification-u1", "sale:confirmed", data); err != nil {
		t.Fatalf("Trigger: %v", err)
	}

	want := []Event{{Channel: "sale-verification-u1", Name: "sale:confirmed", Data: data,
		ReceivedAt: now}}
	if got := f.srv.Events(); !reflect.DeepEqual(got, want) {
		t.Errorf("Events() = %+v, want %+v", got, want)
	}
	if got := f.srv.Requests(); got != 1 {
		t.Errorf("Requests() = %d, want 1", got)
	}
}

func TestTriggerOnSeveralChannelsRecordsOneEventEach(t *testing.T) {
	f := newFixture(t, Config{})

	err := f.client.TriggerMulti([]string{"a", "b", "c"}, "ping", map[string]int{"n": 1})
	if err != nil {
		t.Fatalf("TriggerMulti: %v", err)
	}

	var got []string
	for _, e := range f.srv.Events() {
		got = append(got, e.Channel+" "+e.Name+" "+e.Data)
	}
	want := []string{`a ping {"n":1}`, `b ping {"n":1}`, `c ping {"n":1}`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

func TestBatchOfTenIsRecordedInOrder(t *testing.T) {
	f := newFixture(t, Config{})

	_, err := f.client.TriggerBatch(batchOf(10))
	if err != nil {
		t.Fatalf("TriggerBatch: %v", err)
	}

	got := f.srv.Events()
	if len(got) != 10 {
		t.Fatalf("recorded %d events, want 10", len(got))
	}
	for i, e := range got {
		want := fmt.Sprintf("channel-%d ev-%d data-%d", i, i, i)
		if line := e.Channel + " " + e.Name + " " + e.Data; line != want {
			t.Errorf("event %d = %q, want %q", i, line, want)
		}
	}
}

// TestEnforcesPusherLimits sends what Pusher refuses. Where pusher-http-go checks a
// limit itself (channel characters, 100 channels, socket ids) the request is built by
// hand; where it checks a looser limit (channel length 200, data size) it is
// overridden, so the server's own check is what answers.
func TestEnforcesPusherLimits(t *testing.T) {
	events := "/apps/" + testAppID + "/events"
	batch := "/apps/" + testAppID + "/batch_events"
	tests := []struct {
		name  string
		send  func(t *testing.T, f *fixture) int
		want  int
		count int // events recorded when accepted
	}{
		{name: "channel with a space", want: http.StatusBadRequest,
			send: raw(events, `{"name":"e","channels":["sale verification"],"data":"{}"}`)},
		{name: "channel of 165 characters", want: http.StatusBadRequest,
			send: trigger(strings.Repeat("c", 165), "e", "{}")},
		{name: "channel of 164 characters", want: http.StatusOK, count: 1,
			send: trigger(strings.Repeat("c", 164), "e", "{}")},
		{name: "data of 10241 bytes", want: http.StatusRequestEntityTooLarge,
			send: trigger("c", "e", strings.Repeat("x", 10241))},
		{name: "data of 10240 bytes", want: http.StatusOK, count: 1,
			send: trigger("c", "e", strings.Repeat("x", 10240))},
		{name: "event name of 201 characters", want: http.StatusBadRequest,
			send: trigger("c", strings.Repeat("e", 201), "{}")},
		{name: "101 channels", want: http.StatusBadRequest,
			send: raw(events, `{"name":"e","data":"{}","channels":["c"`+
				strings.Repeat(`,"c"`, 100)+`]}`)},
		{name: "malformed JSON", want: http.StatusBadRequest,
			send: raw(events, `{"name":"e",`)},
		{name: "data not a string", want: http.StatusBadRequest,
			send: raw(events, `{"name":"e","channels":["c"],"data":{"a":1}}`)},
		{name: "missing name", want: http.StatusBadRequest,
			send: raw(events, `{"channels":["c"],"data":"{}"}`)},
		{name: "missing channels", want: http.StatusBadRequest,
			send: raw(events, `{"name":"e","data":"{}"}`)},
		{name: "single channel field", want: http.StatusOK, count: 1,
			send: raw(events, `{"name":"e","channel":"c","data":"{}"}`)},
		{name: "invalid socket_id", want: http.StatusBadRequest,
			send: raw(events, `{"name":"e","channels":["c"],"data":"{}","socket_id":"x"}`)},
		{name: "batch of 11", want: http.StatusBadRequest, send: triggerBatch(11)},
		{name: "batch of 10", want: http.StatusOK, count: 10, send: triggerBatch(10)},
		{name: "empty batch", want: http.StatusBadRequest, send: raw(batch, `{"batch":[]}`)},
		{name: "batch with invalid channel", want: http.StatusBadRequest,
			send: raw(batch, `{"batch":[{"channel":"ok","name":"e","data":"1"},`+
				`{"channel":"not ok","name":"e","data":"2"}]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})

			if got := tt.send(t, f); got != tt.want {
				t.Fatalf("status = %d, want %d", got, tt.want)
			}
			if got := len(f.srv.Events()); got != tt.count {
				t.Errorf("recorded %d events, want %d", got, tt.count)
			}
		})
	}
}

func TestChannelsProbeListsNoChannels(t *testing.T) {
	f := newFixture(t, Config{})

	list, err := f.client.Channels(pusher.ChannelsParams{})
	if err != nil {
		t.Fatalf("Channels: %v", err)
	}
	if list == nil || len(list.Channels) != 0 {
		t.Errorf("Channels() = %+v, want an empty list", list)
	}

	_, err = newClient(f.http, "wrong").Channels(pusher.ChannelsParams{})
	if got := statusOf(err); got != http.StatusUnauthorized {
		t.Errorf("Channels with wrong secret: status %d (err %v), want 401", got, err)
	}
	if got := f.srv.Probes(); got != 2 {
		t.Errorf("Probes() = %d, want 2", got)
	}
}

// trigger sends one event with the real client, allowing data up to 20 KB so that
// the server, not the client, enforces the 10 KB limit.
func trigger(channel, name, data string) func(*testing.T, *fixture) int {
	return func(t *testing.T, f *fixture) int {
		f.client.OverrideMaxMessagePayloadKB = 20
		err := f.client.Trigger(channel, name, data)
		if got := statusOf(err); got != 0 {
			return got
		}
		t.Fatalf("Trigger failed without an HTTP status: %v", err)
		return 0
	}
}

// triggerBatch sends n events with the real client, which does not check batch size.
func triggerBatch(n int) func(*testing.T, *fixture) int {
	return func(t *testing.T, f *fixture) int {
		_, err := f.client.TriggerBatch(batchOf(n))
		if got := statusOf(err); got != 0 {
			return got
		}
		t.Fatalf("TriggerBatch failed without an HTTP status: %v", err)
		return 0
	}
}

// raw sends body, correctly signed, to path.
func raw(path, body string) func(*testing.T, *fixture) int {
	return func(t *testing.T, f *fixture) int {
		status, _ := f.send(t, rawRequest{path: path, body: body})
		return status
	}
}

func batchOf(n int) []pusher.Event {
	batch := make([]pusher.Event, n)
	for i := range batch {
		batch[i] = pusher.Event{
			Channel: fmt.Sprintf("channel-%d", i),
			Name:    fmt.Sprintf("ev-%d", i),
			Data:    fmt.Sprintf("data-%d", i),
		}
	}
	return batch
}
