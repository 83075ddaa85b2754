package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Decision is what an operator decided about a sale.
type Decision string

// The two decisions that produce a Pusher event.
const (
	Confirmed Decision = "confirmed"
	Rejected  Decision = "rejected"
)

// EventName is the Pusher event name for the decision: sale:confirmed or sale:rejected.
func (d Decision) EventName() string { return "sale:" + string(d) }

// Valid reports whether d is one of the two known decisions.
func (d Decision) Valid() bool { return d == Confirmed || d == Rejected }

// Source names where a decision entered salerelay. It is kept for logs and metrics only:
// the same decision from two sources is still one event.
type Source string

// Known sources.
const (
	SourceWebhook   Source = "webhook"
	SourcePublisher Source = "publisher"
	SourceReconcile Source = "reconcile"
)

// SaleDecision is one decision about one sale, as stored on the work stream. It carries
// everything the Pusher payload needs, so the worker never reads Appwrite.
type SaleDecision struct {
	SaleID   string   `json:"saleId"`
	UserID   string   `json:"userId"`
	Decision Decision `json:"decision"`

	// Timestamp is the decision time in Unix milliseconds: the document's $updatedAt for
	// webhooks and reconcile, the receive time for the old endpoint. It orders decisions
	// about the same sale (newest wins) and is sent as the payload's timestamp.
	Timestamp int64 `json:"timestamp"`

	// Amount, ProductCount and Cause are the payload values, already JSON encoded; nil
	// means null.
	Amount       json.RawMessage `json:"amount,omitempty"`
	ProductCount json.RawMessage `json:"productCount,omitempty"`
	Cause        json.RawMessage `json:"cause,omitempty"`

	Source     Source `json:"source"`
	ReceivedAt int64  `json:"receivedAt"` // Unix milliseconds when salerelay first saw it
}

// MaxPayloadBytes is Pusher's limit on one event's data.
const MaxPayloadBytes = 10240

// maxChannelLen is the longest channel name Pusher accepts.
const maxChannelLen = 164

var channelPattern = regexp.MustCompile(`^[-a-zA-Z0-9_=@,.;]+$`)

// ErrInvalid marks a decision that can never be delivered: a missing id, an unknown
// decision, a channel name Pusher refuses or a payload over its size limit. Retrying it
// cannot help, so the worker dead-letters it at once.
var ErrInvalid = errors.New("invalid sale decision")

// Payload is the exact JSON object the Android and web clients receive.
type Payload struct {
	SaleID       string          `json:"saleId"`
	UserID       string          `json:"userId"`
	Decision     Decision        `json:"decision"`
	Timestamp    string          `json:"timestamp"`
	Amount       json.RawMessage `json:"amount"`
	ProductCount json.RawMessage `json:"productCount"`
	Type         string          `json:"type"`
	Cause        json.RawMessage `json:"cause"`
}

// Payload builds the Pusher payload. Absent values are encoded as null.
func (d SaleDecision) Payload() Payload {
	return Payload{
		SaleID:       d.SaleID,
		UserID:       d.UserID,
		Decision:     d.Decision,
		Timestamp:    strconv.FormatInt(d.Timestamp, 10),
		Amount:       orNull(d.Amount),
		ProductCount: orNull(d.ProductCount),
		Type:         d.Decision.EventName(),
		Cause:        orNull(d.Cause),
	}
}

// Channel is the Pusher channel of the sale's customer: prefix followed by the user id.
func (d SaleDecision) Channel(prefix string) string { return prefix + d.UserID }

// Event validates the decision against Pusher's rules and returns the channel, the event
// name and the encoded payload. Its error wraps [ErrInvalid].
func (d SaleDecision) Event(prefix string) (channel, name string, data []byte, err error) {
	if d.SaleID == "" {
		return "", "", nil, fmt.Errorf("%w: empty sale id", ErrInvalid)
	}
	if d.UserID == "" {
		return "", "", nil, fmt.Errorf("%w: sale %s has no user id", ErrInvalid, d.SaleID)
	}
	if !d.Decision.Valid() {
		return "", "", nil, fmt.Errorf("%w: unknown decision %q", ErrInvalid, d.Decision)
	}

	channel = d.Channel(prefix)
	if len(channel) > maxChannelLen || !channelPattern.MatchString(channel) {
		return "", "", nil, fmt.Errorf("%w: channel name %q is not accepted by Pusher",
			ErrInvalid, channel)
	}

	data, err = json.Marshal(d.Payload())
	if err != nil {
		return "", "", nil, fmt.Errorf("%w: encode payload: %w", ErrInvalid, err)
	}
	if len(data) > MaxPayloadBytes {
		return "", "", nil, fmt.Errorf("%w: payload of %d bytes is over Pusher's %d",
			ErrInvalid, len(data), MaxPayloadBytes)
	}
	return channel, d.Decision.EventName(), data, nil
}

// MsgID is the JetStream message id of the decision: the same sale, decision and time
// reported twice within the stream's dedup window is stored once.
func (d SaleDecision) MsgID() string {
	return fmt.Sprintf("%s.%s.%d", d.SaleID, d.Decision, d.Timestamp)
}

var null = json.RawMessage("null")

func orNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return null
	}
	return v
}
