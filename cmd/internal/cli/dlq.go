package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/salerelay/salerelay/worker/dlq"
)

// Exit codes of a command (SPEC §5).
const (
	exitDone      = 0 // done
	exitRunFailed = 1 // failed at run time: an unknown record, the store unreachable
	exitBadUsage  = 2 // bad usage or configuration
)

// reasonWidth is where `dlq list` cuts the reason; `dlq show` prints it in full.
const reasonWidth = 60

const dlqUsage = `usage: salerelay dlq <command> [arguments]

Inspect and act on dead-lettered sale decisions.

commands:
  list [--json]                      list records; --json prints one JSON array
  show ID                            print one record in full, as JSON
  replay ID... | --all [--since D]   put records back on the work queue; --since
                                     (a duration like 1h) limits --all to records
                                     that last failed within it
  purge ID... | --all                delete records

Flags may come before or after the record ids.
`

// dlqUsageError is a command line that does not make sense; DLQ answers it with exit
// code 2 and the usage text.
type dlqUsageError struct{ msg string }

func (e *dlqUsageError) Error() string { return e.msg }

func dlqBadUsage(format string, args ...any) error {
	return &dlqUsageError{msg: fmt.Sprintf(format, args...)}
}

// DLQ runs `salerelay dlq` with args, the words after "dlq": list, show, replay or purge
// and their arguments. It writes results to stdout and messages to stderr, and returns the
// exit code: 0 done, 1 failed at run time (an unknown id, the store unreachable), 2 bad
// usage (with the usage text on stderr). Replay and purge of several ids act on every id
// they can and fail, after the others, for those they cannot.
func DLQ(ctx context.Context, store *dlq.Store, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return printUsageError(stderr, dlqBadUsage("missing command"))
	}

	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "list":
		err = dlqList(ctx, store, rest, stdout)
	case "show":
		err = dlqShow(ctx, store, rest, stdout)
	case "replay":
		err = dlqReplay(ctx, store, rest, stdout)
	case "purge":
		err = dlqPurge(ctx, store, rest, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, dlqUsage)
		return exitDone
	default:
		err = dlqBadUsage("unknown command %q", cmd)
	}

	switch {
	case err == nil:
		return exitDone
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, dlqUsage)
		return exitDone
	case errors.As(err, new(*dlqUsageError)):
		return printUsageError(stderr, err)
	default:
		fmt.Fprintf(stderr, "salerelay dlq %s: %v\n", args[0], err)
		return exitRunFailed
	}
}

func printUsageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "salerelay dlq: %v\n\n%s", err, dlqUsage)
	return exitBadUsage
}

func dlqList(ctx context.Context, store *dlq.Store, args []string, stdout io.Writer) error {
	fs := dlqFlagSet("list")
	asJSON := fs.Bool("json", false, "print one JSON array")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return dlqBadUsage("list takes no arguments, got %q", pos)
	}

	records, err := store.List(ctx, dlq.Filter{})
	if err != nil {
		return fmt.Errorf("read dead-letter records: %w", err)
	}

	if *asJSON {
		if records == nil {
			records = []dlq.Record{} // scripts expect an array, never null
		}
		return writeRecordJSON(stdout, records, "")
	}
	if len(records) == 0 {
		fmt.Fprintln(stdout, "no dead-letter records")
		return nil
	}
	return writeRecordTable(stdout, records)
}

func dlqShow(ctx context.Context, store *dlq.Store, args []string, stdout io.Writer) error {
	fs := dlqFlagSet("show")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return dlqBadUsage("show takes exactly one record id")
	}
	ids, err := parseRecordIDs(pos)
	if err != nil {
		return err
	}

	rec, err := store.Get(ctx, ids[0])
	if err != nil {
		return err
	}
	return writeRecordJSON(stdout, rec, "  ")
}

func dlqReplay(ctx context.Context, store *dlq.Store, args []string, stdout io.Writer) error {
	fs := dlqFlagSet("replay")
	all := fs.Bool("all", false, "replay every record")
	since := fs.Duration("since", 0, "with --all, only records that last failed within it")
	ids, err := dlqTargets(fs, args, all)
	if err != nil {
		return err
	}
	if *since < 0 || (*since > 0 && !*all) {
		return dlqBadUsage("--since takes a positive duration and needs --all")
	}

	if *all {
		f := dlq.Filter{}
		if *since > 0 {
			f.Since = time.Now().Add(-*since)
		}
		n, err := store.ReplayAll(ctx, f)
		fmt.Fprintf(stdout, "replayed %s\n", recordCount(n))
		return err
	}

	return dlqEach(ids, "replayed", stdout, func(id uint64) error {
		return store.Replay(ctx, id)
	})
}

func dlqPurge(ctx context.Context, store *dlq.Store, args []string, stdout io.Writer) error {
	fs := dlqFlagSet("purge")
	all := fs.Bool("all", false, "delete every record")
	ids, err := dlqTargets(fs, args, all)
	if err != nil {
		return err
	}

	if *all {
		n, err := store.Purge(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %s\n", recordCount(int(n)))
		return nil
	}

	return dlqEach(ids, "purged", stdout, func(id uint64) error {
		return store.Delete(ctx, id)
	})
}

// dlqEach runs act on every id, prints how many succeeded ("replayed 2 records") and
// returns the failures joined.
func dlqEach(ids []uint64, verb string, stdout io.Writer, act func(uint64) error) error {
	var errs []error
	done := 0
	for _, id := range ids {
		if err := act(id); err != nil {
			errs = append(errs, err)
			continue
		}
		done++
	}
	fmt.Fprintf(stdout, "%s %s\n", verb, recordCount(done))
	return errors.Join(errs...)
}

// dlqTargets parses the flags and ids of replay and purge, where all is the --all flag
// of fs: ids or --all, not both.
func dlqTargets(fs *flag.FlagSet, args []string, all *bool) ([]uint64, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}

	switch {
	case *all && len(pos) > 0:
		return nil, dlqBadUsage("give record ids or --all, not both")
	case !*all && len(pos) == 0:
		return nil, dlqBadUsage("%s needs record ids or --all", fs.Name())
	}
	return parseRecordIDs(pos)
}

// parseInterleaved parses args with fs and returns the positional arguments. Unlike
// fs.Parse it accepts flags after positional arguments too; all after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, dlqBadUsage("%s: %v", fs.Name(), err)
		}

		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if parsed := len(args) - len(rest); parsed > 0 && args[parsed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseRecordIDs reads record ids: positive integers.
func parseRecordIDs(words []string) ([]uint64, error) {
	ids := make([]uint64, 0, len(words))
	for _, w := range words {
		id, err := strconv.ParseUint(w, 10, 64)
		if err != nil || id == 0 {
			return nil, dlqBadUsage("invalid record id %q: want a positive integer", w)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// dlqFlagSet returns a silent flag set: DLQ prints the usage itself.
func dlqFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// writeRecordTable prints records as aligned columns, one line each.
func writeRecordTable(w io.Writer, records []dlq.Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSALE\tDECISION\tCLASS\tATTEMPTS\tLAST FAILED\tREASON\tLAST ERROR")
	for _, r := range records {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, tableCell(r.SaleID),
			tableCell(string(r.Decision)), tableCell(string(r.Class)), r.Attempts,
			rfc3339OrDash(r.LastFailedAt), truncateRunes(tableCell(r.Reason), reasonWidth),
			truncateRunes(tableCell(r.LastError), reasonWidth))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func writeRecordJSON(w io.Writer, v any, indent string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// tableCell makes s safe for one table cell: no tabs or line breaks, "-" when empty.
func tableCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// truncateRunes shortens s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	runes := []rune(s)
	if len(runes) <= n {
		return s
	}
	return string(runes[:n-1]) + "…"
}

func rfc3339OrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func recordCount(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}
