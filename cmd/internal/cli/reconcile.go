package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/salerelay/salerelay/webhook/reconcile"
)

// Scanner is what the reconcile command needs of [reconcile.Scanner].
type Scanner interface {
	Scan(ctx context.Context, since time.Time, dryRun bool) (reconcile.Summary, error)
}

// Reconcile runs `salerelay reconcile [--since DURATION] [--dry-run]`: one scan of the
// sales changed in Appwrite since then, enqueuing the decisions no webhook delivered.
func Reconcile(ctx context.Context, s Scanner, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.Duration("since", reconcile.DefaultLookback, "scan sales changed within this duration")
	dryRun := fs.Bool("dry-run", false, "print what would be enqueued and change nothing")
	if err := fs.Parse(args); err != nil {
		return exitBadUsage
	}
	if fs.NArg() > 0 || *since <= 0 {
		fmt.Fprintln(stderr, "usage: salerelay reconcile [--since DURATION] [--dry-run]")
		return exitBadUsage
	}

	sum, err := s.Scan(ctx, time.Now().Add(-*since), *dryRun)
	if err != nil {
		fmt.Fprintf(stderr, "salerelay reconcile: %v\n", err)
		return exitRunFailed
	}

	if sum.DryRun {
		for _, d := range sum.Decisions {
			fmt.Fprintf(stdout, "would enqueue  sale %s  %s  at %s\n", d.SaleID, d.Decision,
				time.UnixMilli(d.Timestamp).UTC().Format(time.RFC3339))
		}
	}
	verb := "enqueued"
	if sum.DryRun {
		verb = "would enqueue"
	}
	fmt.Fprintf(stdout, "scanned %d, decided %d, already delivered %d, %s %d, "+
		"already queued %d (since %s)\n", sum.Scanned, sum.Decided, sum.AlreadyDelivered, verb,
		sum.Enqueued, sum.Duplicates, sum.Since.UTC().Format(time.RFC3339))
	return exitDone
}
