package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salerelay/salerelay/events"
)

// Scanner lists recently changed sales in Appwrite and enqueues the decisions no webhook
// delivered. It is safe for concurrent use.
type Scanner struct {
	cfg     Config
	rows    *rowLister
	queue   events.Enqueuer
	lookup  events.DeliveryLookup
	log     *slog.Logger
	metrics *metrics

	// now stamps ReceivedAt, and is the decision time of a row without $updatedAt.
	now func() time.Time
}

// NewScanner returns a scanner enqueuing through queue. lookup, usually the worker's
// ledger, may be nil: then every decided row is enqueued and counted as found, and the
// worker's ledger still drops what was delivered. log nil means slog.Default(); the
// reconcile counters are registered on reg, and nil reg registers nothing. The error
// wraps [ErrConfig] and names every missing setting.
func NewScanner(cfg Config, queue events.Enqueuer, lookup events.DeliveryLookup,
	log *slog.Logger, reg prometheus.Registerer) (*Scanner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}

	return &Scanner{
		cfg:     cfg,
		rows:    newRowLister(cfg),
		queue:   queue,
		lookup:  lookup,
		log:     log,
		metrics: newMetrics(reg),
		now:     time.Now,
	}, nil
}

// Summary is what one scan saw and did.
type Summary struct {
	Since            time.Time // rows updated strictly after this were listed
	Scanned          int       // rows listed
	Decided          int       // rows in a confirmed or rejected state
	AlreadyDelivered int       // decided rows the lookup says were delivered
	Enqueued         int       // decisions newly stored on the work queue ("found")
	Duplicates       int       // decisions the queue already held (same message id)
	DryRun           bool      // nothing was enqueued; Decisions is what would have been

	// Newest is the newest $updatedAt among the listed rows, zero when none was listed.
	Newest time.Time

	// Decisions are the decisions handed to the queue, or in a dry run the ones that
	// would have been, in $updatedAt order.
	Decisions []events.SaleDecision
}

// Scan lists the rows updated after since, maps each as a webhook body would be mapped
// and enqueues the decided ones that were not delivered yet. With dryRun it enqueues
// nothing and returns what it would enqueue.
//
// Scan reads every page before it enqueues anything: when Appwrite keeps failing (429 or
// 5xx past Config.MaxAttempts, any other error at once) or the delivery lookup fails, it
// returns an error and has enqueued nothing. Only a queue failure while enqueuing leaves
// part of the decisions stored; the returned Summary counts them, and a second scan is
// safe because stored decisions are deduplicated.
func (s *Scanner) Scan(ctx context.Context, since time.Time, dryRun bool) (Summary, error) {
	sum := Summary{Since: since, DryRun: dryRun}

	rows, err := s.rows.listAll(ctx, since)
	if err != nil {
		return sum, fmt.Errorf("scan appwrite since %s: %w", since.Format(time.RFC3339), err)
	}
	sum.Scanned = len(rows)
	s.metrics.scanned.Add(float64(len(rows)))

	if err := s.plan(ctx, rows, &sum); err != nil {
		return sum, err
	}
	if dryRun {
		return sum, nil
	}

	return sum, s.enqueue(ctx, &sum)
}

// plan maps the rows and keeps, in sum.Decisions, the decisions still to deliver.
func (s *Scanner) plan(ctx context.Context, rows []json.RawMessage, sum *Summary) error {
	now := s.now()
	for _, raw := range rows {
		doc, err := events.ParseDocument(raw)
		if err != nil {
			return fmt.Errorf("decode row: %w", err)
		}
		if at, ok := doc.UpdatedAt(); ok && at.After(sum.Newest) {
			sum.Newest = at
		}

		d, err := s.cfg.Mapping.Decide(doc, now)
		if errors.Is(err, events.ErrUndecided) {
			continue
		}
		if err != nil {
			return fmt.Errorf("map sale %s: %w", doc.ID(), err)
		}
		sum.Decided++
		d.Source = events.SourceReconcile
		d.ReceivedAt = now.UnixMilli()

		delivered, err := s.delivered(ctx, d)
		if err != nil {
			return err
		}
		if delivered {
			sum.AlreadyDelivered++
			continue
		}
		sum.Decisions = append(sum.Decisions, d)
	}
	return nil
}

// delivered asks the lookup whether this decision, or the same decision reported later
// (by the old endpoint, whose time is the receive time), was already delivered. A
// different decision delivered later is not: the worker drops the older one by itself.
func (s *Scanner) delivered(ctx context.Context, d events.SaleDecision) (bool, error) {
	if s.lookup == nil {
		return false, nil
	}
	last, ok, err := s.lookup.LastDelivered(ctx, d.SaleID)
	if err != nil {
		return false, fmt.Errorf("look up delivery of sale %s: %w", d.SaleID, err)
	}
	return ok && last.Decision == d.Decision && last.Timestamp >= d.Timestamp, nil
}

// enqueue stores the planned decisions, stopping at the first queue failure.
func (s *Scanner) enqueue(ctx context.Context, sum *Summary) error {
	for _, d := range sum.Decisions {
		receipt, err := s.queue.Enqueue(ctx, d)
		if err != nil {
			return fmt.Errorf("enqueue sale %s after %d of %d: %w", d.SaleID,
				sum.Enqueued+sum.Duplicates, len(sum.Decisions), err)
		}
		if receipt.Duplicate {
			sum.Duplicates++
			s.log.Debug("reconcile decision already queued", "sale_id", d.SaleID,
				"decision", d.Decision, "source", d.Source)
			continue
		}

		sum.Enqueued++
		s.metrics.found.Inc()
		s.log.Info("reconcile found undelivered decision", "sale_id", d.SaleID,
			"decision", d.Decision, "source", d.Source, "updated_at_ms", d.Timestamp,
			"seq", receipt.Sequence)
	}
	return nil
}
