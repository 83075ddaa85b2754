package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mapping says which document fields hold the sale's facts and which states are
// decisions. The zero value is not usable; start from [DefaultMapping].
type Mapping struct {
	StateField    string   // default buy_state
	UserField     string   // default user_id
	AmountField   string   // default amount
	ProductsField string   // default products
	CauseField    string   // empty: rejections always carry RejectedCause
	Confirmed     []string // states that confirm a sale, default VERIFIED
	Rejected      []string // states that reject a sale, default DELETED
	RejectedCause string   // default rejected_by_operator
}

// DefaultMapping returns the field names and states of SPEC §2 and §6.
func DefaultMapping() Mapping {
	return Mapping{
		StateField:    "buy_state",
		UserField:     "user_id",
		AmountField:   "amount",
		ProductsField: "products",
		Confirmed:     []string{"VERIFIED"},
		Rejected:      []string{"DELETED"},
		RejectedCause: "rejected_by_operator",
	}
}

// ErrNotObject is returned for a document that is not a JSON object.
var ErrNotObject = errors.New("document is not a JSON object")

// ErrUndecided is returned for a document whose state is neither confirmed nor rejected:
// nothing is published for it.
var ErrUndecided = errors.New("sale is not decided")

// Document is an Appwrite sale document (a row, in TablesDB words), decoded only as far as
// its top-level fields. Unknown fields are kept raw and never break decoding.
type Document map[string]json.RawMessage

// ParseDocument decodes a webhook body or a listed row.
func ParseDocument(body []byte) (Document, error) {
	var doc Document
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return nil, ErrNotObject
	}
	return doc, nil
}

// String returns a top-level string field, or "" when it is absent or not a string.
func (d Document) String(field string) string {
	var s string
	if raw, ok := d[field]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// ID is the document's $id.
func (d Document) ID() string { return d.String("$id") }

// DatabaseID is the document's $databaseId.
func (d Document) DatabaseID() string { return d.String("$databaseId") }

// CollectionID is $collectionId, or $tableId for TablesDB rows.
func (d Document) CollectionID() string {
	if id := d.String("$collectionId"); id != "" {
		return id
	}
	return d.String("$tableId")
}

// UpdatedAt parses $updatedAt (2025-11-03T10:16:05.112+00:00).
func (d Document) UpdatedAt() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, d.String("$updatedAt"))
	return t, err == nil
}

// Decide maps a document to the decision it records. A state that is neither confirmed
// nor rejected returns an error wrapping [ErrUndecided]. When $updatedAt is missing or
// unreadable, fallback (the receive time) becomes the decision time.
func (m Mapping) Decide(doc Document, fallback time.Time) (SaleDecision, error) {
	state := doc.String(m.StateField)

	var decision Decision
	switch {
	case slices.Contains(m.Confirmed, state):
		decision = Confirmed
	case slices.Contains(m.Rejected, state):
		decision = Rejected
	default:
		return SaleDecision{}, fmt.Errorf("%w: %s is %q", ErrUndecided, m.StateField, state)
	}

	at, ok := doc.UpdatedAt()
	if !ok {
		at = fallback
	}

	d := SaleDecision{
		SaleID:       doc.ID(),
		UserID:       doc.String(m.UserField),
		Decision:     decision,
		Timestamp:    at.UnixMilli(),
		Amount:       number(doc[m.AmountField]),
		ProductCount: productCount(doc[m.ProductsField]),
	}
	if decision == Rejected {
		d.Cause = m.cause(doc)
	}
	return d, nil
}

func (m Mapping) cause(doc Document) json.RawMessage {
	cause := m.RejectedCause
	if m.CauseField != "" {
		if s := strings.TrimSpace(doc.String(m.CauseField)); s != "" {
			cause = s
		}
	}
	raw, _ := json.Marshal(cause) // a string always encodes
	return raw
}

// number reads a JSON number or a numeric string. It returns nil (null) for anything else.
func number(raw json.RawMessage) json.RawMessage {
	f, ok := readFloat(raw)
	if !ok {
		return nil
	}
	return json.RawMessage(strconv.FormatFloat(f, 'f', -1, 64))
}

func readFloat(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}

	text := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &text) != nil {
			return 0, false
		}
		text = strings.TrimSpace(text)
	}

	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(text, "xXpP") {
		return 0, false
	}
	return f, true
}

// productCount sums quantity over the products field, which Appwrite stores either as a
// string holding a JSON array or as an array. It returns nil (null) when the field is
// absent or any item's quantity cannot be read as a whole number.
func productCount(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, null) {
		return nil
	}
	if raw[0] == '"' {
		var inner string
		if json.Unmarshal(raw, &inner) != nil {
			return nil
		}
		raw = json.RawMessage(inner)
	}

	// A string holding "null" decodes without error into a nil slice: unreadable, not 0.
	var items []map[string]json.RawMessage
	if json.Unmarshal(raw, &items) != nil || items == nil {
		return nil
	}

	var total int64
	for _, item := range items {
		q, ok := readFloat(item["quantity"])
		if !ok || q != math.Trunc(q) || math.Abs(q) > 1<<53 {
			return nil
		}
		total += int64(q)
	}
	return json.RawMessage(strconv.FormatInt(total, 10))
}
