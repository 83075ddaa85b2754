package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream resources salerelay owns. They are created or updated at start.
const (
	// WorkStream holds sale decisions waiting for delivery.
	WorkStream = "SALES"
	// WorkSubjectPrefix is followed by the source: sales.decisions.webhook.
	WorkSubjectPrefix = "sales.decisions."
	// DeadLetterStream holds decisions that could not be delivered, with the reason.
	DeadLetterStream = "SALES_DLQ"
	// DeadLetterSubjectPrefix is followed by the failure class: sales.dlq.permanent.
	DeadLetterSubjectPrefix = "sales.dlq."
	// LedgerBucket records, per sale, the last decision delivered to Pusher.
	LedgerBucket = "SALES_LEDGER"
	// StateBucket keeps small operational state such as the reconcile watermark.
	StateBucket = "SALERELAY_STATE"
	// WorkConsumer is the durable consumer every salerelay instance shares.
	WorkConsumer = "salerelay-worker"
)

// WorkSubject is the subject a decision from source is published on.
func WorkSubject(source Source) string { return WorkSubjectPrefix + string(source) }

// StreamOptions tunes the resources created by [EnsureStreams]. Zero values take the
// defaults noted on each field.
type StreamOptions struct {
	Replicas int // default 1; 3 on a three-node cluster

	// Duplicates is the work stream's dedup window, default 2 minutes. Dedup only catches
	// bursts of the same report; the ledger catches everything else.
	Duplicates time.Duration

	// MaxBytes caps the work stream, default 1 GiB. When full, publishes fail (the webhook
	// answers 503) rather than dropping queued decisions.
	MaxBytes int64
}

// EnsureStreams creates or updates the work and dead-letter streams and the key-value
// buckets. It is safe to run from several instances at once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts StreamOptions) error {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = 2 * time.Minute
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}

	streams := []jetstream.StreamConfig{{
		Name:        WorkStream,
		Description: "salerelay: sale decisions waiting for delivery to Pusher",
		Subjects:    []string{WorkSubjectPrefix + ">"},
		// WorkQueue: a decision leaves the stream when the worker acks it, so the stream
		// only ever holds the backlog.
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   opts.Replicas,
		Duplicates: opts.Duplicates,
		MaxBytes:   opts.MaxBytes,
		// DiscardNew: a full stream refuses new decisions (visible as 503s) instead of
		// silently deleting old ones.
		Discard: jetstream.DiscardNew,
	}, {
		Name:        DeadLetterStream,
		Description: "salerelay: decisions that could not be delivered, with the reason",
		Subjects:    []string{DeadLetterSubjectPrefix + ">"},
		// Limits with no age limit: records stay until an operator replays or purges them.
		Retention: jetstream.LimitsPolicy,
		Storage:   jetstream.FileStorage,
		Replicas:  opts.Replicas,
		// A long window so that a worker that crashes between storing a record and
		// terminating the original cannot store it twice when redelivered.
		Duplicates: time.Hour,
		MaxBytes:   opts.MaxBytes,
		Discard:    jetstream.DiscardNew,
	}}
	for _, cfg := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
	}

	// TODO: the ledger keeps one small key per sale forever (no MaxAge). An age limit
	// would bound it, but a replay older than the limit could then publish again; pick
	// one with the shop before adding it.
	buckets := []jetstream.KeyValueConfig{{
		Bucket:      LedgerBucket,
		Description: "salerelay: last decision delivered per sale",
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		History:     1,
	}, {
		Bucket:      StateBucket,
		Description: "salerelay: reconcile watermark and leases",
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		History:     1,
	}}
	for _, cfg := range buckets {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

// CheckStreams reports an error unless the streams and buckets exist. It backs /readyz.
func CheckStreams(ctx context.Context, js jetstream.JetStream) error {
	var errs []error
	for _, name := range []string{WorkStream, DeadLetterStream} {
		if _, err := js.Stream(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
		}
	}
	for _, name := range []string{LedgerBucket, StateBucket} {
		if _, err := js.KeyValue(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("bucket %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
