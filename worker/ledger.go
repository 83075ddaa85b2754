package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
)

// Ledger is the durable memory of what was delivered for each sale, one key per sale in
// the SALES_LEDGER bucket. Every change is a compare-and-swap on the key's revision, so
// deliveries of the same sale on several workers or instances never both publish.
//
// Before sending, a worker claims the sale (a pending record with a lease); after Pusher
// accepted, it commits. If the process dies in between, the lease expires and the
// decision is sent again: the one duplicate the design allows.
type Ledger struct {
	kv    jetstream.KeyValue
	lease time.Duration
	now   func() time.Time
}

// NewLedger opens the ledger bucket. lease bounds how long a claim blocks other workers
// when its holder dies; it must exceed the longest Pusher call.
func NewLedger(ctx context.Context, js jetstream.JetStream, lease time.Duration) (*Ledger, error) {
	kv, err := js.KeyValue(ctx, events.LedgerBucket)
	if err != nil {
		return nil, fmt.Errorf("open ledger bucket: %w", err)
	}
	return &Ledger{kv: kv, lease: lease, now: time.Now}, nil
}

// entry is the JSON value stored per sale.
type entry struct {
	Delivered *events.Delivery `json:"delivered,omitempty"`
	Pending   *pending         `json:"pending,omitempty"`

	// Failures counts failed attempts per queued message, by message id. Two messages of
	// one sale can fail at the same time (the webhook and the old endpoint reporting the
	// same decision under different ids); one shared record would be reset by each in
	// turn, and neither would ever reach the attempt limit.
	Failures map[string]failure `json:"failures,omitempty"`
}

// pending is a delivery in progress.
type pending struct {
	MsgID string `json:"msgId"`
	Owner string `json:"owner"`
	Until int64  `json:"until"` // lease end, Unix milliseconds
}

// failure counts the failed attempts of one message.
type failure struct {
	Attempts  int    `json:"attempts"`
	FirstAt   int64  `json:"firstAt"`
	LastAt    int64  `json:"lastAt"`
	LastError string `json:"lastError"`
}

// Verdict is what the ledger says about a decision before it is sent.
type Verdict int

// Verdicts of [Ledger.Claim].
const (
	Send      Verdict = iota // claimed: send it, then Commit or Release
	Duplicate                // this decision was delivered already
	Stale                    // a newer, different decision was delivered already
	Busy                     // another worker is delivering this sale right now
)

func (v Verdict) String() string {
	return [...]string{"send", "duplicate", "stale", "busy"}[v]
}

// Claim is a held lease on a sale.
type Claim struct {
	key   string
	owner string
	msgID string
	d     events.SaleDecision

	attempts int // counted attempts this message had failed before the claim
}

// errConflict means another writer changed the key between our read and write.
var errConflict = errors.New("ledger changed concurrently")

// Claim decides whether d should be sent and, if so, leases the sale to owner.
//
// A decision equal to the delivered one but newer (a later edit that kept the state) is
// a Duplicate, and it moves the delivered decision's time forward: the sale held that
// decision as of the later change, so a different decision older than it is stale.
// Without this, confirmed@1, confirmed@3 (skipped), rejected@2 arriving in that order
// would end on "rejected" although the sale is confirmed.
func (l *Ledger) Claim(ctx context.Context, d events.SaleDecision, msgID, owner string) (
	Verdict, *Claim, error) {
	key := ledgerKey(d.SaleID)
	for {
		e, rev, err := l.get(ctx, key)
		if err != nil {
			return 0, nil, err
		}

		now := l.now()
		if p := e.Pending; p != nil && p.Owner != owner && p.Until > now.UnixMilli() {
			return Busy, nil, nil
		}
		if v := judge(e.Delivered, d); v != Send {
			if v == Duplicate && d.Timestamp > e.Delivered.Timestamp {
				e.Delivered.Timestamp = d.Timestamp
				if _, err := l.put(ctx, key, e, rev); errors.Is(err, errConflict) {
					continue
				} else if err != nil {
					return 0, nil, err
				}
			}
			return v, nil, nil
		}

		e.Pending = &pending{MsgID: msgID, Owner: owner, Until: now.Add(l.lease).UnixMilli()}
		_, err = l.put(ctx, key, e, rev)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		return Send, &Claim{key: key, owner: owner, msgID: msgID, d: d,
			attempts: e.Failures[msgID].Attempts}, nil
	}
}

// judge compares a decision with the last delivered one for its sale.
func judge(last *events.Delivery, d events.SaleDecision) Verdict {
	switch {
	case last == nil:
		return Send
	case last.Decision == d.Decision:
		return Duplicate
	case d.Timestamp <= last.Timestamp:
		return Stale
	default:
		return Send
	}
}

// Commit records that Pusher accepted the claimed decision and ends the lease. It
// reports whether the lease was still held: false means it had expired and another
// worker may have sent the same decision as well (a possible duplicate, worth a log).
// The record is right either way: a newer decision committed meanwhile is kept.
func (l *Ledger) Commit(ctx context.Context, c *Claim) (held bool, err error) {
	err = l.update(ctx, c, func(e *entry) {
		held = e.Pending != nil && e.Pending.Owner == c.owner
		switch judge(e.Delivered, c.d) {
		case Send:
			e.Delivered = &events.Delivery{
				Decision:    c.d.Decision,
				Timestamp:   c.d.Timestamp,
				DeliveredAt: l.now().UnixMilli(),
			}
		case Duplicate:
			e.Delivered.Timestamp = max(e.Delivered.Timestamp, c.d.Timestamp)
		}
		// Every message of this sale starts counting afresh: the delivered one is done,
		// and the others are judged again against what was just delivered.
		e.Failures = nil
	})
	return held, err
}

// Release ends the lease after a failed attempt and returns the failure record of the
// message. count says whether the attempt counts toward the attempt limit (attempts made
// while Pusher is down do not).
func (l *Ledger) Release(ctx context.Context, c *Claim, cause string, count bool) (failure, error) {
	var f failure
	err := l.update(ctx, c, func(e *entry) {
		now := l.now().UnixMilli()
		f = e.Failures[c.msgID]
		if f.FirstAt == 0 {
			f.FirstAt = now
		}
		if count {
			f.Attempts++
		}
		f.LastAt = now
		f.LastError = cause
		if e.Failures == nil {
			e.Failures = make(map[string]failure)
		}
		e.Failures[c.msgID] = f
	})
	return f, err
}

// Abandon ends the lease without recording an attempt: the claim was not used, or the
// call was cut off by a stop and says nothing about Pusher.
func (l *Ledger) Abandon(ctx context.Context, c *Claim) error {
	return l.update(ctx, c, func(*entry) {})
}

// Forget ends the lease and clears the failure record of the message, once it is
// dead-lettered: a replay starts with a fresh attempt count.
func (l *Ledger) Forget(ctx context.Context, c *Claim) error {
	return l.update(ctx, c, func(e *entry) { delete(e.Failures, c.msgID) })
}

// update applies change to the claimed key, drops our lease, and retries on conflicts.
// It always starts from the key's current value: another worker may have written it
// since the claim (a lease that expired and was taken over), and its writes are kept.
func (l *Ledger) update(ctx context.Context, c *Claim, change func(*entry)) error {
	for {
		e, rev, err := l.get(ctx, c.key)
		if err != nil {
			return err
		}

		change(&e)
		if e.Pending != nil && e.Pending.Owner == c.owner {
			e.Pending = nil
		}
		if len(e.Failures) == 0 {
			e.Failures = nil
		}
		_, err = l.put(ctx, c.key, e, rev)
		if errors.Is(err, errConflict) {
			continue
		}
		return err
	}
}

// LastDelivered implements [events.DeliveryLookup].
func (l *Ledger) LastDelivered(ctx context.Context, saleID string) (events.Delivery, bool, error) {
	e, _, err := l.get(ctx, ledgerKey(saleID))
	if err != nil || e.Delivered == nil {
		return events.Delivery{}, false, err
	}
	return *e.Delivered, true, nil
}

// get reads a key; a missing key is an empty entry at revision 0.
func (l *Ledger) get(ctx context.Context, key string) (entry, uint64, error) {
	kve, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{}, 0, nil
	}
	if err != nil {
		return entry{}, 0, fmt.Errorf("read ledger %s: %w", key, err)
	}
	var e entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return entry{}, 0, fmt.Errorf("decode ledger %s: %w", key, err)
	}
	return e, kve.Revision(), nil
}

// put writes e if the key is still at rev (0: the key must not exist).
func (l *Ledger) put(ctx context.Context, key string, e entry, rev uint64) (uint64, error) {
	value, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode ledger %s: %w", key, err)
	}

	var next uint64
	if rev == 0 {
		next, err = l.kv.Create(ctx, key, value)
	} else {
		next, err = l.kv.Update(ctx, key, value, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("write ledger %s: %w", key, err)
	}
	return next, nil
}

var plainKey = regexp.MustCompile(`^[-_a-zA-Z0-9]+(\.[-_a-zA-Z0-9]+)*$`)

// ledgerKey maps a sale id to a valid KV key. Appwrite ids already are; anything else is
// hashed.
func ledgerKey(saleID string) string {
	if len(saleID) <= 128 && plainKey.MatchString(saleID) {
		return "sale." + saleID
	}
	sum := sha256.Sum256([]byte(saleID))
	return "hash." + hex.EncodeToString(sum[:])
}
