package dlq

import (
	"time"

	"github.com/salerelay/salerelay/events"
)

// Class says why a decision was dead-lettered.
type Class string

// Failure classes of a dead-letter record.
const (
	// Permanent: Pusher refused the event (400, 401, 403, 404, 413) or salerelay found it
	// undeliverable (invalid channel name, payload over 10 KB). Retrying cannot help.
	Permanent Class = "permanent"
	// Exhausted: transient failures (network, timeout, 5xx, 429) used up MAX_ATTEMPTS.
	Exhausted Class = "exhausted"
	// Poison: the queued message could not be decoded.
	Poison Class = "poison"
)

// Record is one dead-lettered decision. Its JSON form is what `dlq list --json` prints
// and what the admin API answers.
type Record struct {
	ID       uint64          `json:"id"` // sequence in the dead-letter stream
	SaleID   string          `json:"saleId"`
	UserID   string          `json:"userId"`
	Decision events.Decision `json:"decision"`

	Reason    string `json:"reason"`    // why it was dead-lettered, for people
	Class     Class  `json:"class"`     // permanent, exhausted or poison
	Attempts  int    `json:"attempts"`  // Pusher attempts made
	LastError string `json:"lastError"` // the last failure, without secrets or signed URLs

	FirstFailedAt time.Time `json:"firstFailedAt"`
	LastFailedAt  time.Time `json:"lastFailedAt"`

	// Subject, MsgID and Data are the original work-stream message, kept byte for byte
	// so that replay sends exactly what was queued. OriginalSeq is its work-stream
	// sequence.
	Subject     string `json:"subject"`
	MsgID       string `json:"msgId,omitempty"`
	OriginalSeq uint64 `json:"originalSeq"`
	Data        []byte `json:"data"`

	// Event is Data decoded, when it could be.
	Event *events.SaleDecision `json:"event,omitempty"`
}
