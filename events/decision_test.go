package events_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/salerelay/salerelay/events"
)

const testChannelPrefix = "sale-verification-"

// specExample is the payload example of SPEC §3, byte for byte.
const specExample = `{"saleId":"69c9593b002b167bf4fb","userId":"698f82750024bfe2dc52",` +
	`"decision":"confirmed","timestamp":"1719936000000","amount":20.5,"productCount":4,` +
	`"type":"sale:confirmed","cause":null}`

func TestEventMatchesSpecExample(t *testing.T) {
	d := events.SaleDecision{
		SaleID:       "69c9593b002b167bf4fb",
		UserID:       "698f82750024bfe2dc52",
		Decision:     events.Confirmed,
		Timestamp:    1719936000000,
		Amount:       json.RawMessage("20.5"),
		ProductCount: json.RawMessage("4"),
		Source:       events.SourceWebhook,
		ReceivedAt:   1719936000999,
	}

	channel, name, data, err := d.Event(testChannelPrefix)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	if want := "sale-verification-698f82750024bfe2dc52"; channel != want {
		t.Errorf("channel = %q, want %q", channel, want)
	}
	if name != "sale:confirmed" {
		t.Errorf("event name = %q, want sale:confirmed", name)
	}
	if string(data) != specExample {
		t.Errorf("payload:\n got %s\nwant %s", data, specExample)
	}
}

// TestPayloadKeysAndTypes checks that every payload carries exactly the keys of SPEC §3,
// each with its JSON type, whatever is present or missing in the decision.
func TestPayloadKeysAndTypes(t *testing.T) {
	tests := []struct {
		name string
		d    events.SaleDecision
		want map[string]any // decoded values; nil means JSON null
	}{{
		name: "confirmed with everything",
		d: events.SaleDecision{SaleID: "s1", UserID: "u1", Decision: events.Confirmed,
			Timestamp: 1762164965112, Amount: json.RawMessage("15"),
			ProductCount: json.RawMessage("3")},
		want: map[string]any{"saleId": "s1", "userId": "u1", "decision": "confirmed",
			"timestamp": "1762164965112", "amount": 15.0, "productCount": 3.0,
			"type": "sale:confirmed", "cause": nil},
	}, {
		name: "rejected with a cause and no amount or products",
		d: events.SaleDecision{SaleID: "s2", UserID: "u2", Decision: events.Rejected,
			Timestamp: 1, Cause: json.RawMessage(`"rejected_by_operator"`)},
		want: map[string]any{"saleId": "s2", "userId": "u2", "decision": "rejected",
			"timestamp": "1", "amount": nil, "productCount": nil,
			"type": "sale:rejected", "cause": "rejected_by_operator"},
	}, {
		name: "explicit nulls stay null",
		d: events.SaleDecision{SaleID: "s3", UserID: "u3", Decision: events.Confirmed,
			Timestamp: 1762164965112, Amount: json.RawMessage("null"),
			ProductCount: json.RawMessage("null"), Cause: json.RawMessage("null")},
		want: map[string]any{"saleId": "s3", "userId": "u3", "decision": "confirmed",
			"timestamp": "1762164965112", "amount": nil, "productCount": nil,
			"type": "sale:confirmed", "cause": nil},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, data, err := tt.d.Event(testChannelPrefix)
			if err != nil {
				t.Fatalf("Event: %v", err)
			}
			checkPayloadShape(t, data)

			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("payload %s is not JSON: %v", data, err)
			}
			for key, want := range tt.want {
				if got[key] != want {
					t.Errorf("%s = %#v, want %#v", key, got[key], want)
				}
			}
		})
	}
}

// checkPayloadShape fails unless data holds exactly the SPEC §3 keys with their JSON types.
func checkPayloadShape(t *testing.T, data []byte) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("payload %s is not JSON: %v", data, err)
	}

	wantKeys := []string{"amount", "cause", "decision", "productCount", "saleId", "timestamp",
		"type", "userId"}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("payload keys = %v, want %v", keys, wantKeys)
	}

	for _, key := range []string{"saleId", "userId", "decision", "timestamp", "type"} {
		if _, ok := got[key].(string); !ok {
			t.Errorf("%s = %#v, want a JSON string", key, got[key])
		}
	}
	if v := got["amount"]; v != nil {
		if _, ok := v.(float64); !ok {
			t.Errorf("amount = %#v, want a number or null", v)
		}
	}
	if v := got["productCount"]; v != nil {
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			t.Errorf("productCount = %#v, want an integer or null", v)
		}
	}
	if v := got["cause"]; v != nil {
		if _, ok := v.(string); !ok {
			t.Errorf("cause = %#v, want a string or null", v)
		}
	}
}

func TestEventRejectsWhatPusherRefuses(t *testing.T) {
	valid := events.SaleDecision{SaleID: "s1", UserID: "u1", Decision: events.Rejected,
		Timestamp: 1762164965112}

	tests := []struct {
		name   string
		change func(d *events.SaleDecision)
		prefix string
		ok     bool
	}{
		{name: "valid", change: func(*events.SaleDecision) {}, ok: true},
		{name: "empty sale id", change: func(d *events.SaleDecision) { d.SaleID = "" }},
		{name: "empty user id", change: func(d *events.SaleDecision) { d.UserID = "" }},
		{name: "unknown decision", change: func(d *events.SaleDecision) { d.Decision = "maybe" }},
		{name: "channel with a space", change: func(d *events.SaleDecision) { d.UserID = "u 1" }},
		{name: "channel with a slash", change: func(d *events.SaleDecision) { d.UserID = "u/1" }},
		{name: "channel of 164 characters", ok: true, change: func(d *events.SaleDecision) {
			d.UserID = strings.Repeat("u", 164-len(testChannelPrefix))
		}},
		{name: "channel of 165 characters", change: func(d *events.SaleDecision) {
			d.UserID = strings.Repeat("u", 165-len(testChannelPrefix))
		}},
		{name: "bad character in the prefix", prefix: "sale verification-",
			change: func(*events.SaleDecision) {}},
		{name: "payload at the limit", ok: true, change: func(d *events.SaleDecision) {
			d.Cause = causeForPayloadSize(t, *d, events.MaxPayloadBytes)
		}},
		{name: "payload over 10240 bytes", change: func(d *events.SaleDecision) {
			d.Cause = causeForPayloadSize(t, *d, events.MaxPayloadBytes+1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid
			tt.change(&d)
			prefix := tt.prefix
			if prefix == "" {
				prefix = testChannelPrefix
			}

			_, _, data, err := d.Event(prefix)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Event: %v, want no error", err)
			case tt.ok && len(data) > events.MaxPayloadBytes:
				t.Fatalf("payload of %d bytes accepted, over %d", len(data), events.MaxPayloadBytes)
			case !tt.ok && !errors.Is(err, events.ErrInvalid):
				t.Fatalf("Event error = %v, want one wrapping ErrInvalid", err)
			}
		})
	}
}

// causeForPayloadSize returns a cause that makes d's payload exactly size bytes long.
func causeForPayloadSize(t *testing.T, d events.SaleDecision, size int) json.RawMessage {
	t.Helper()
	d.Cause = json.RawMessage(`""`)
	base, err := json.Marshal(d.Payload())
	if err != nil {
		t.Fatalf("encode payload: %v", err)
	}
	return json.RawMessage(`"` + strings.Repeat("x", size-len(base)) + `"`)
}

func TestMsgIDIsDeterministic(t *testing.T) {
	d := events.SaleDecision{SaleID: "s1", UserID: "u1", Decision: events.Confirmed,
		Timestamp: 1762164965112, Amount: json.RawMessage("20.5"),
		Source: events.SourceWebhook, ReceivedAt: 1762164966000}

	same := d
	same.Source = events.SourceReconcile
	same.ReceivedAt = 1762165000000
	same.Amount = nil
	if d.MsgID() != same.MsgID() {
		t.Errorf("MsgID differs for the same sale, decision and time: %q and %q",
			d.MsgID(), same.MsgID())
	}
	if d.MsgID() != d.MsgID() {
		t.Errorf("MsgID is not stable across calls")
	}

	others := map[string]func(*events.SaleDecision){
		"another sale":     func(o *events.SaleDecision) { o.SaleID = "s2" },
		"another decision": func(o *events.SaleDecision) { o.Decision = events.Rejected },
		"another time":     func(o *events.SaleDecision) { o.Timestamp++ },
	}
	for name, change := range others {
		o := d
		change(&o)
		if o.MsgID() == d.MsgID() {
			t.Errorf("%s: MsgID %q equals the original's", name, o.MsgID())
		}
	}
}

func TestDecisionNames(t *testing.T) {
	tests := []struct {
		d     events.Decision
		name  string
		valid bool
	}{
		{events.Confirmed, "sale:confirmed", true},
		{events.Rejected, "sale:rejected", true},
		{"", "sale:", false},
		{"CONFIRMED", "sale:CONFIRMED", false},
	}
	for _, tt := range tests {
		if got := tt.d.EventName(); got != tt.name {
			t.Errorf("Decision(%q).EventName() = %q, want %q", tt.d, got, tt.name)
		}
		if got := tt.d.Valid(); got != tt.valid {
			t.Errorf("Decision(%q).Valid() = %v, want %v", tt.d, got, tt.valid)
		}
	}
}
