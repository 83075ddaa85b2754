package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseKey holds the lease of the instance allowed to scan, in events.StateBucket.
const leaseKey = "reconcile.lease"

// lease is the value stored under leaseKey. Expiry is judged by the reader's clock, so
// instances whose clocks differ by more than a small part of the TTL may overlap briefly;
// the watermark's compare-and-swap still keeps them from moving it backwards.
type lease struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// acquireLease takes the lease for holder until now+ttl, or renews it when holder already
// has it. It returns false, without error, when another holder has an unexpired lease or
// won the race for it. Every write is a compare-and-swap on the key's revision.
func acquireLease(ctx context.Context, kv jetstream.KeyValue, holder string, now time.Time,
	ttl time.Duration) (bool, error) {
	value, err := json.Marshal(lease{Holder: holder, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return false, fmt.Errorf("encode lease: %w", err)
	}

	entry, err := kv.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		_, err = kv.Create(ctx, leaseKey, value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil // another instance created it first
		}
		if err != nil {
			return false, fmt.Errorf("create lease: %w", err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read lease: %w", err)
	}

	// An unreadable value counts as expired, so a bad write cannot block reconcile forever.
	var current lease
	if json.Unmarshal(entry.Value(), &current) == nil && current.Holder != holder &&
		now.Before(current.ExpiresAt) {
		return false, nil
	}

	_, err = kv.Update(ctx, leaseKey, value, entry.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil // someone else renewed or took it meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("renew lease: %w", err)
	}
	return true, nil
}

// releaseLease deletes holder's lease so another instance can take over at once. A lease
// held by someone else is left alone.
func releaseLease(ctx context.Context, kv jetstream.KeyValue, holder string) error {
	entry, err := kv.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read lease: %w", err)
	}

	var current lease
	if json.Unmarshal(entry.Value(), &current) != nil || current.Holder != holder {
		return nil
	}
	if err := kv.Delete(ctx, leaseKey, jetstream.LastRevision(entry.Revision())); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}
