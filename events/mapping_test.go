package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
)

// updatedAtMillis is baseSaleFields' $updatedAt, 2025-11-03T10:16:05.112+00:00.
const updatedAtMillis = 1762164965112

// receivedAt is the fallback decision time the tests pass to Decide.
var receivedAt = time.UnixMilli(1762170000000)

// baseSaleFields is a decided sale document, as raw JSON values by field.
var baseSaleFields = map[string]string{
	"$id":           `"sale-1"`,
	"user_id":       `"user-1"`,
	"buy_state":     `"VERIFIED"`,
	"amount":        `20.5`,
	"products":      `"[{\"productId\":\"p-1\",\"quantity\":2},{\"productId\":\"p-2\",\"quantity\":1}]"`,
	"$updatedAt":    `"2025-11-03T10:16:05.112+00:00"`,
	"$databaseId":   `"shop"`,
	"$collectionId": `"sales"`,
	"$permissions":  `["read(\"user:user-1\")"]`,
	"date":          `"2026-11-20"`,
}

// saleDocument encodes baseSaleFields with changes applied: a raw JSON value replaces
// the field, "" removes it.
func saleDocument(t *testing.T, changes map[string]string) []byte {
	t.Helper()
	fields := maps.Clone(baseSaleFields)
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
		name, _ := json.Marshal(k)
		b.Write(name)
		b.WriteByte(':')
		b.WriteString(fields[k])
	}
	b.WriteByte('}')
	if !json.Valid(b.Bytes()) {
		t.Fatalf("test document is not JSON: %s", b.Bytes())
	}
	return b.Bytes()
}

// payloadJSON is the payload of sale-1 for user-1 at updatedAtMillis; amount,
// productCount and cause are raw JSON.
func payloadJSON(decision events.Decision, amount, productCount, cause string) string {
	return `{"saleId":"sale-1","userId":"user-1","decision":"` + string(decision) +
		`","timestamp":"1762164965112","amount":` + amount + `,"productCount":` +
		productCount + `,"type":"sale:` + string(decision) + `","cause":` + cause + `}`
}

func TestDecideStates(t *testing.T) {
	custom := events.DefaultMapping()
	custom.Confirmed = []string{"APPROVED", "PAID"}
	custom.Rejected = []string{"CANCELLED", "REFUSED"}

	renamed := events.DefaultMapping()
	renamed.StateField = "estado"

	tests := []struct {
		name    string
		mapping events.Mapping
		state   string // raw JSON; "" removes the field
		field   string // state field name, default buy_state
		want    events.Decision
	}{
		{"VERIFIED confirms", events.DefaultMapping(), `"VERIFIED"`, "", events.Confirmed},
		{"DELETED rejects", events.DefaultMapping(), `"DELETED"`, "", events.Rejected},
		{"UNVERIFIED waits", events.DefaultMapping(), `"UNVERIFIED"`, "", ""},
		{"unknown state", events.DefaultMapping(), `"SHIPPED"`, "", ""},
		{"state in another case", events.DefaultMapping(), `"verified"`, "", ""},
		{"empty state", events.DefaultMapping(), `""`, "", ""},
		{"missing state", events.DefaultMapping(), "", "", ""},
		{"null state", events.DefaultMapping(), `null`, "", ""},
		{"numeric state", events.DefaultMapping(), `1`, "", ""},
		{"custom list, first confirmed", custom, `"APPROVED"`, "", events.Confirmed},
		{"custom list, second confirmed", custom, `"PAID"`, "", events.Confirmed},
		{"custom list, second rejected", custom, `"REFUSED"`, "", events.Rejected},
		{"custom list ignores the defaults", custom, `"VERIFIED"`, "", ""},
		{"renamed state field", renamed, `"DELETED"`, "estado", events.Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field := tt.field
			if field == "" {
				field = "buy_state"
			}
			doc := mustParse(t, saleDocument(t, map[string]string{"buy_state": "", field: tt.state}))

			got, err := tt.mapping.Decide(doc, receivedAt)
			if tt.want == "" {
				if !errors.Is(err, events.ErrUndecided) {
					t.Fatalf("Decide error = %v (decision %q), want ErrUndecided", err, got.Decision)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got.Decision != tt.want {
				t.Errorf("decision = %q, want %q", got.Decision, tt.want)
			}
		})
	}
}

// TestDecidePayload checks the payload a document produces, byte for byte, for every
// shape of products, amount, $sequence and cause.
func TestDecidePayload(t *testing.T) {
	withCause := events.DefaultMapping()
	withCause.CauseField = "reject_reason"

	ownCause := events.DefaultMapping()
	ownCause.RejectedCause = "cancelled_by_shop"

	tests := []struct {
		name    string
		mapping events.Mapping
		changes map[string]string
		want    string
	}{
		// products
		{name: "products as a JSON string", want: payloadJSON("confirmed", "20.5", "3", "null")},
		{name: "products as an array", changes: map[string]string{
			"products": `[{"productId":"p-1","quantity":2},{"productId":"p-2","quantity":5}]`},
			want: payloadJSON("confirmed", "20.5", "7", "null")},
		{name: "products empty array", changes: map[string]string{"products": `[]`},
			want: payloadJSON("confirmed", "20.5", "0", "null")},
		{name: "products empty array in a string", changes: map[string]string{"products": `"[]"`},
			want: payloadJSON("confirmed", "20.5", "0", "null")},
		{name: "products absent", changes: map[string]string{"products": ""},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products null", changes: map[string]string{"products": `null`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products string holding null", changes: map[string]string{"products": `"null"`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products bad JSON string", changes: map[string]string{"products": `"[{\"quantity\":2"`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products empty string", changes: map[string]string{"products": `""`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products an object", changes: map[string]string{"products": `{"quantity":2}`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products a string holding an object",
			changes: map[string]string{"products": `"{\"quantity\":2}"`},
			want:    payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "products a number", changes: map[string]string{"products": `3`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "item without quantity",
			changes: map[string]string{"products": `[{"quantity":2},{"productId":"p-2"}]`},
			want:    payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "item null", changes: map[string]string{"products": `[{"quantity":2},null]`},
			want: payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "fractional quantity",
			changes: map[string]string{"products": `[{"quantity":1.5}]`},
			want:    payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "quantity written as a float",
			changes: map[string]string{"products": `[{"quantity":2.0},{"quantity":1}]`},
			want:    payloadJSON("confirmed", "20.5", "3", "null")},
		{name: "quantities as numeric strings",
			changes: map[string]string{"products": `"[{\"quantity\":\"2\"},{\"quantity\":\" 3 \"}]"`},
			want:    payloadJSON("confirmed", "20.5", "5", "null")},
		{name: "quantity a word",
			changes: map[string]string{"products": `[{"quantity":"two"}]`},
			want:    payloadJSON("confirmed", "20.5", "null", "null")},
		{name: "quantity a boolean",
			changes: map[string]string{"products": `[{"quantity":true}]`},
			want:    payloadJSON("confirmed", "20.5", "null", "null")},

		// amount
		{name: "amount integer", changes: map[string]string{"amount": `15`},
			want: payloadJSON("confirmed", "15", "3", "null")},
		{name: "amount zero", changes: map[string]string{"amount": `0`},
			want: payloadJSON("confirmed", "0", "3", "null")},
		{name: "amount float", changes: map[string]string{"amount": `19.99`},
			want: payloadJSON("confirmed", "19.99", "3", "null")},
		{name: "amount numeric string", changes: map[string]string{"amount": `"20.50"`},
			want: payloadJSON("confirmed", "20.5", "3", "null")},
		{name: "amount integer string", changes: map[string]string{"amount": `" 15 "`},
			want: payloadJSON("confirmed", "15", "3", "null")},
		{name: "amount absent", changes: map[string]string{"amount": ""},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount null", changes: map[string]string{"amount": `null`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount a word", changes: map[string]string{"amount": `"twenty"`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount empty string", changes: map[string]string{"amount": `""`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount hexadecimal string", changes: map[string]string{"amount": `"0x1A"`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount NaN string", changes: map[string]string{"amount": `"NaN"`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount Infinity string", changes: map[string]string{"amount": `"Infinity"`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount a boolean", changes: map[string]string{"amount": `true`},
			want: payloadJSON("confirmed", "null", "3", "null")},
		{name: "amount an object", changes: map[string]string{"amount": `{"value":20.5}`},
			want: payloadJSON("confirmed", "null", "3", "null")},

		// $sequence, as each Appwrite version sends it
		{name: "$sequence absent", changes: map[string]string{"$sequence": ""},
			want: payloadJSON("confirmed", "20.5", "3", "null")},
		{name: "$sequence a number", changes: map[string]string{"$sequence": `17`},
			want: payloadJSON("confirmed", "20.5", "3", "null")},
		{name: "$sequence a string", changes: map[string]string{"$sequence": `"17"`},
			want: payloadJSON("confirmed", "20.5", "3", "null")},
		{name: "unknown and null fields", changes: map[string]string{
			"delivery_address": `null`, "extra": `{"nested":[1,"two",null]}`},
			want: payloadJSON("confirmed", "20.5", "3", "null")},

		// cause
		{name: "rejection takes the default cause",
			changes: map[string]string{"buy_state": `"DELETED"`},
			want:    payloadJSON("rejected", "20.5", "3", `"rejected_by_operator"`)},
		{name: "rejection takes SALE_REJECTED_CAUSE", mapping: ownCause,
			changes: map[string]string{"buy_state": `"DELETED"`},
			want:    payloadJSON("rejected", "20.5", "3", `"cancelled_by_shop"`)},
		{name: "rejection takes the cause field", mapping: withCause,
			changes: map[string]string{"buy_state": `"DELETED"`, "reject_reason": `"out of stock"`},
			want:    payloadJSON("rejected", "20.5", "3", `"out of stock"`)},
		{name: "empty cause field takes the default", mapping: withCause,
			changes: map[string]string{"buy_state": `"DELETED"`, "reject_reason": `""`},
			want:    payloadJSON("rejected", "20.5", "3", `"rejected_by_operator"`)},
		{name: "blank cause field takes the default", mapping: withCause,
			changes: map[string]string{"buy_state": `"DELETED"`, "reject_reason": `"  \t "`},
			want:    payloadJSON("rejected", "20.5", "3", `"rejected_by_operator"`)},
		{name: "null cause field takes the default", mapping: withCause,
			changes: map[string]string{"buy_state": `"DELETED"`, "reject_reason": `null`},
			want:    payloadJSON("rejected", "20.5", "3", `"rejected_by_operator"`)},
		{name: "absent cause field takes the default", mapping: withCause,
			changes: map[string]string{"buy_state": `"DELETED"`},
			want:    payloadJSON("rejected", "20.5", "3", `"rejected_by_operator"`)},
		{name: "confirmation has no cause even with a cause field", mapping: withCause,
			changes: map[string]string{"reject_reason": `"out of stock"`},
			want:    payloadJSON("confirmed", "20.5", "3", "null")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapping := tt.mapping
			if mapping.StateField == "" {
				mapping = events.DefaultMapping()
			}
			doc := mustParse(t, saleDocument(t, tt.changes))

			d, err := mapping.Decide(doc, receivedAt)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			_, _, data, err := d.Event(testChannelPrefix)
			if err != nil {
				t.Fatalf("Event: %v", err)
			}
			if string(data) != tt.want {
				t.Errorf("payload:\n got %s\nwant %s", data, tt.want)
			}
			checkPayloadShape(t, data)
		})
	}
}

func TestDecideRenamedFields(t *testing.T) {
	m := events.DefaultMapping()
	m.UserField = "customer"
	m.AmountField = "total"
	m.ProductsField = "items"

	doc := mustParse(t, saleDocument(t, map[string]string{
		"user_id": "", "amount": "", "products": "",
		"customer": `"user-1"`, "total": `"7.25"`, "items": `[{"quantity":4}]`,
	}))
	d, err := m.Decide(doc, receivedAt)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	_, _, data, err := d.Event(testChannelPrefix)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	if want := payloadJSON("confirmed", "7.25", "4", "null"); string(data) != want {
		t.Errorf("payload:\n got %s\nwant %s", data, want)
	}
}

func TestDecideTimestamp(t *testing.T) {
	tests := []struct {
		name      string
		updatedAt string // raw JSON; "" removes the field
		want      int64
	}{
		{"Appwrite format", `"2025-11-03T10:16:05.112+00:00"`, updatedAtMillis},
		{"another offset", `"2025-11-03T12:16:05.112+02:00"`, updatedAtMillis},
		{"no fraction", `"2025-11-03T10:16:05Z"`, 1762164965000},
		{"missing", "", receivedAt.UnixMilli()},
		{"null", `null`, receivedAt.UnixMilli()},
		{"unparseable", `"yesterday"`, receivedAt.UnixMilli()},
		{"date only", `"2025-11-03"`, receivedAt.UnixMilli()},
		{"a number", `1762164965112`, receivedAt.UnixMilli()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, saleDocument(t, map[string]string{"$updatedAt": tt.updatedAt}))
			d, err := events.DefaultMapping().Decide(doc, receivedAt)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Timestamp != tt.want {
				t.Errorf("Timestamp = %d, want %d", d.Timestamp, tt.want)
			}
		})
	}
}

func TestDocumentFields(t *testing.T) {
	tests := []struct {
		name           string
		changes        map[string]string
		wantID         string
		wantDatabase   string
		wantCollection string
	}{
		{"$collectionId", nil, "sale-1", "shop", "sales"},
		{"$tableId", map[string]string{"$collectionId": "", "$tableId": `"sales_rows"`},
			"sale-1", "shop", "sales_rows"},
		{"both, $collectionId first", map[string]string{"$tableId": `"other"`},
			"sale-1", "shop", "sales"},
		{"neither", map[string]string{"$collectionId": "", "$databaseId": "", "$id": ""},
			"", "", ""},
		{"ids of the wrong type", map[string]string{"$collectionId": `5`, "$id": `null`},
			"", "shop", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, saleDocument(t, tt.changes))
			if got := doc.ID(); got != tt.wantID {
				t.Errorf("ID() = %q, want %q", got, tt.wantID)
			}
			if got := doc.DatabaseID(); got != tt.wantDatabase {
				t.Errorf("DatabaseID() = %q, want %q", got, tt.wantDatabase)
			}
			if got := doc.CollectionID(); got != tt.wantCollection {
				t.Errorf("CollectionID() = %q, want %q", got, tt.wantCollection)
			}
		})
	}
}

func TestParseDocumentRefusesNonObjects(t *testing.T) {
	for _, body := range []string{`[]`, `[{"$id":"x"}]`, `"text"`, `42`, `true`, `null`, ``,
		`{"$id":`, `not json`, `{"a":1} trailing`} {
		if doc, err := events.ParseDocument([]byte(body)); !errors.Is(err, events.ErrNotObject) {
			t.Errorf("ParseDocument(%q) = %v, %v; want ErrNotObject", body, doc, err)
		}
	}
	if _, err := events.ParseDocument([]byte(` {} `)); err != nil {
		t.Errorf("ParseDocument({}) = %v, want no error", err)
	}
}

// webhookFixtures is cases.json from the shared fixtures, with the bodies it names.
type webhookFixtures struct {
	Cases []struct {
		Name     string `json:"name"`
		BodyFile string `json:"body_file"`
		Expect   struct {
			Status int `json:"status"`
			Events []struct {
				Channel string          `json:"channel"`
				Event   string          `json:"event"`
				Payload json.RawMessage `json:"payload"`
			} `json:"events"`
		} `json:"expect"`
	} `json:"cases"`
}

const fixtureDir = "../cmd/internal/app/testdata/webhooks"

func loadWebhookFixtures(t *testing.T) webhookFixtures {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "cases.json"))
	if err != nil {
		t.Fatalf("read cases.json: %v", err)
	}
	var fx webhookFixtures
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("decode cases.json: %v", err)
	}
	return fx
}

// TestDecideFixtures maps every real-shaped Appwrite 1.6 and 1.8 body and compares the
// event with the one cases.json expects.
func TestDecideFixtures(t *testing.T) {
	fx := loadWebhookFixtures(t)
	checked := map[string]bool{}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(fixtureDir, c.BodyFile))
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			doc := mustParse(t, body)
			d, err := events.DefaultMapping().Decide(doc, receivedAt)

			if c.Name == "v18-update-unverified" {
				if !errors.Is(err, events.ErrUndecided) {
					t.Fatalf("Decide error = %v, want ErrUndecided", err)
				}
				checked[c.Name] = true
				return
			}
			if len(c.Expect.Events) != 1 {
				return // no event for reasons outside the mapping: signature, collection, delete
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}

			want := c.Expect.Events[0]
			channel, name, data, err := d.Event(testChannelPrefix)
			if err != nil {
				t.Fatalf("Event: %v", err)
			}
			if channel != want.Channel || name != want.Event {
				t.Errorf("event = %s on %s, want %s on %s", name, channel, want.Event, want.Channel)
			}
			var wantData bytes.Buffer
			if err := json.Compact(&wantData, want.Payload); err != nil {
				t.Fatalf("compact expected payload: %v", err)
			}
			if !bytes.Equal(data, wantData.Bytes()) {
				t.Errorf("payload:\n got %s\nwant %s", data, wantData.Bytes())
			}
			checked[c.Name] = true
		})
	}
	for _, name := range []string{"v16-update-verified", "v18-update-verified",
		"v18-update-deleted", "v18-update-unverified"} {
		if !checked[name] {
			t.Errorf("fixture %s was not checked", name)
		}
	}
}

func TestDefaultMapping(t *testing.T) {
	m := events.DefaultMapping()
	got := strings.Join([]string{m.StateField, m.UserField, m.AmountField, m.ProductsField,
		m.CauseField, strings.Join(m.Confirmed, "|"), strings.Join(m.Rejected, "|"),
		m.RejectedCause}, ",")
	want := "buy_state,user_id,amount,products,,VERIFIED,DELETED,rejected_by_operator"
	if got != want {
		t.Errorf("DefaultMapping() = %s, want %s", got, want)
	}
}

func mustParse(t *testing.T, body []byte) events.Document {
	t.Helper()
	doc, err := events.ParseDocument(body)
	if err != nil {
		t.Fatalf("ParseDocument(%s): %v", body, err)
	}
	return doc
}
