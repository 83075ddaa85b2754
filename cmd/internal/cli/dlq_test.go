package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/events/broker/brokertest"
	"github.com/salerelay/salerelay/worker/dlq"
)

// longReason is over the table's reason width and holds a line break and a tab, which a
// table cell must not.
const longReason = "Pusher answered 503 on every attempt:\n\tupstream unavailable, " +
	"gave up after MAX_ATTEMPTS"

// dlqFixture is a real store holding two records: "sale-a" (exhausted, failed a minute
// ago) with id 1 and "sale-bb" (permanent, two days ago) with id 2.
type dlqFixture struct {
	broker  *broker.Broker
	store   *dlq.Store
	records []dlq.Record // as stored, ids set
}

func newDLQFixture(t *testing.T, withRecords bool) *dlqFixture {
	t.Helper()
	ctx := t.Context()

	b := brokertest.Start(t, events.StreamOptions{})
	f := &dlqFixture{broker: b, store: dlq.NewStore(b.JS)}
	if !withRecords {
		return f
	}

	now := time.Now().UTC().Truncate(time.Second)
	for i, rec := range []dlq.Record{
		testDLQRecord(t, "sale-a", events.Confirmed, dlq.Exhausted, longReason, 8,
			now.Add(-time.Minute)),
		testDLQRecord(t, "sale-bb", events.Rejected, dlq.Permanent,
			"Pusher answered 400: invalid channel", 1, now.Add(-48*time.Hour)),
	} {
		rec.OriginalSeq = uint64(i + 1)
		id, err := f.store.Add(ctx, rec)
		if err != nil {
			t.Fatalf("Add(%s): %v", rec.SaleID, err)
		}
		stored, err := f.store.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%d): %v", id, err)
		}
		f.records = append(f.records, stored)
	}
	return f
}

func testDLQRecord(t *testing.T, sale string, d events.Decision, class dlq.Class,
	reason string, attempts int, failed time.Time) dlq.Record {
	t.Helper()
	sd := events.SaleDecision{
		SaleID: sale, UserID: "user-" + sale, Decision: d,
		Timestamp: failed.UnixMilli(), Source: events.SourceWebhook,
	}
	data, err := json.Marshal(sd)
	if err != nil {
		t.Fatalf("encode decision: %v", err)
	}
	return dlq.Record{
		SaleID: sale, UserID: sd.UserID, Decision: d,
		Reason: reason, Class: class, Attempts: attempts, LastError: "Status Code: 400",
		FirstFailedAt: failed.Add(-time.Minute), LastFailedAt: failed,
		Subject: events.WorkSubject(sd.Source), MsgID: sd.MsgID(), Data: data, Event: &sd,
	}
}

// run runs `salerelay dlq args...` against the fixture's store.
func (f *dlqFixture) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = DLQ(t.Context(), f.store, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// left lists the sales still dead-lettered.
func (f *dlqFixture) left(t *testing.T) []string {
	t.Helper()
	records, err := f.store.List(t.Context(), dlq.Filter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	sales := []string{}
	for _, r := range records {
		sales = append(sales, r.SaleID)
	}
	return sales
}

// queued counts the messages waiting on the work stream.
func (f *dlqFixture) queued(t *testing.T) uint64 {
	t.Helper()
	stream, err := f.broker.JS.Stream(t.Context(), events.WorkStream)
	if err != nil {
		t.Fatalf("open work stream: %v", err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatalf("work stream info: %v", err)
	}
	return info.State.Msgs
}

func TestDLQListTable(t *testing.T) {
	f := newDLQFixture(t, true)
	a, b := f.records[0].LastFailedAt.Format(time.RFC3339),
		f.records[1].LastFailedAt.Format(time.RFC3339)

	code, stdout, stderr := f.run(t, "list")

	want := fmt.Sprintf(""+
		"ID  SALE     DECISION   CLASS      ATTEMPTS  LAST FAILED           REASON"+
		"                                                        LAST ERROR\n"+
		"1   sale-a   confirmed  exhausted  8         %s  "+
		"Pusher answered 503 on every attempt: upstream unavailable,…  Status Code: 400\n"+
		"2   sale-bb  rejected   permanent  1         %s  "+
		"Pusher answered 400: invalid channel                          Status Code: 400\n",
		a, b)
	if code != 0 || stderr != "" {
		t.Errorf("list: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if stdout != want {
		t.Errorf("list printed\n%s\nwant\n%s", stdout, want)
	}
}

func TestDLQListJSONRoundTrips(t *testing.T) {
	f := newDLQFixture(t, true)

	code, stdout, stderr := f.run(t, "list", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("list --json: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if n := strings.Count(strings.TrimSpace(stdout), "\n"); n != 0 {
		t.Errorf("list --json printed %d line breaks, want one JSON array on one line", n)
	}

	var got []dlq.Record
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("list --json output is not a record array: %v\n%s", err, stdout)
	}
	if len(got) != len(f.records) {
		t.Fatalf("list --json: %d records, want %d", len(got), len(f.records))
	}
	for i, want := range f.records {
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}

	// The SPEC's field names and forms, as scripts read them.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("decode list --json as objects: %v", err)
	}
	want := f.records[0]
	fields := []struct {
		key  string
		want any
	}{
		{"id", float64(want.ID)},
		{"saleId", "sale-a"},
		{"userId", "user-sale-a"},
		{"decision", "confirmed"},
		{"reason", longReason},
		{"class", "exhausted"},
		{"attempts", 8.0},
		{"lastError", "Status Code: 400"},
		{"firstFailedAt", want.FirstFailedAt.Format(time.RFC3339)},
		{"lastFailedAt", want.LastFailedAt.Format(time.RFC3339)},
	}
	for _, field := range fields {
		if got := raw[0][field.key]; got != field.want {
			t.Errorf("list --json %s = %v (%T), want %v", field.key, got, got, field.want)
		}
	}
}

func TestDLQListEmpty(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"list", "--json"}, "[]\n"},
		{[]string{"list"}, "no dead-letter records\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := newDLQFixture(t, false)
			code, stdout, stderr := f.run(t, tt.args...)
			if code != 0 || stdout != tt.want || stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q, nothing",
					code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestDLQShow(t *testing.T) {
	f := newDLQFixture(t, true)

	code, stdout, stderr := f.run(t, "show", "2")
	if code != 0 || stderr != "" {
		t.Fatalf("show 2: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if !strings.HasPrefix(stdout, "{\n  \"id\": 2,\n") {
		t.Errorf("show 2 is not indented JSON starting with the id:\n%s", stdout)
	}
	var got dlq.Record
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("show 2 output is not a record: %v", err)
	}
	if !reflect.DeepEqual(got, f.records[1]) {
		t.Errorf("show 2:\n got %+v\nwant %+v", got, f.records[1])
	}
}

func TestDLQActions(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // a part of it
		wantLeft   []string
		wantQueued uint64
	}{
		{"replay one", []string{"replay", "1"}, 0, "replayed 1 record\n", "",
			[]string{"sale-bb"}, 1},
		{"replay two", []string{"replay", "1", "2"}, 0, "replayed 2 records\n", "",
			[]string{}, 2},
		{"replay all", []string{"replay", "--all"}, 0, "replayed 2 records\n", "",
			[]string{}, 2},
		{"replay all since", []string{"replay", "--all", "--since", "1h"}, 0,
			"replayed 1 record\n", "", []string{"sale-bb"}, 1},
		{"replay since before all", []string{"replay", "--since=72h", "--all"}, 0,
			"replayed 2 records\n", "", []string{}, 2},
		{"replay unknown id", []string{"replay", "999"}, 1, "replayed 0 records\n",
			"not found", []string{"sale-a", "sale-bb"}, 0},
		{"replay known and unknown", []string{"replay", "999", "1"}, 1,
			"replayed 1 record\n", "record 999", []string{"sale-bb"}, 1},
		{"purge one", []string{"purge", "2"}, 0, "purged 1 record\n", "",
			[]string{"sale-a"}, 0},
		{"purge all", []string{"purge", "--all"}, 0, "purged 2 records\n", "",
			[]string{}, 0},
		{"purge unknown id", []string{"purge", "7"}, 1, "purged 0 records\n", "not found",
			[]string{"sale-a", "sale-bb"}, 0},
		{"show unknown id", []string{"show", "999"}, 1, "", "not found",
			[]string{"sale-a", "sale-bb"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDLQFixture(t, true)

			code, stdout, stderr := f.run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, code, tt.wantCode, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("%v: stdout %q, want %q", tt.args, stdout, tt.wantStdout)
			}
			if tt.wantStderr == "" && stderr != "" || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("%v: stderr %q, want %q", tt.args, stderr, tt.wantStderr)
			}
			if got := f.left(t); !reflect.DeepEqual(got, tt.wantLeft) {
				t.Errorf("%v: records left %v, want %v", tt.args, got, tt.wantLeft)
			}
			if got := f.queued(t); got != tt.wantQueued {
				t.Errorf("%v: %d messages queued, want %d", tt.args, got, tt.wantQueued)
			}
		})
	}
}

func TestDLQBadUsageExits2(t *testing.T) {
	f := newDLQFixture(t, true)

	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"drop", "1"}, `unknown command "drop"`},
		{"list with an argument", []string{"list", "1"}, "no arguments"},
		{"list unknown flag", []string{"list", "--yaml"}, "yaml"},
		{"show without id", []string{"show"}, "exactly one"},
		{"show two ids", []string{"show", "1", "2"}, "exactly one"},
		{"show bad id", []string{"show", "one"}, `invalid record id "one"`},
		{"show id zero", []string{"show", "0"}, `invalid record id "0"`},
		{"replay nothing", []string{"replay"}, "needs record ids or --all"},
		{"replay ids and all", []string{"replay", "1", "--all"}, "not both"},
		{"replay since without all", []string{"replay", "--since", "1h", "1"}, "needs --all"},
		{"replay bad duration", []string{"replay", "--all", "--since", "1d"}, "since"},
		{"replay negative duration", []string{"replay", "--all", "--since=-1h"}, "positive"},
		{"replay bad id", []string{"replay", "1", "x"}, `invalid record id "x"`},
		{"purge nothing", []string{"purge"}, "needs record ids or --all"},
		{"purge ids and all", []string{"purge", "--all", "2"}, "not both"},
		{"purge since", []string{"purge", "--all", "--since", "1h"}, "since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := f.run(t, tt.args...)
			if code != 2 {
				t.Errorf("%v: exit %d, want 2", tt.args, code)
			}
			if stdout != "" {
				t.Errorf("%v: stdout %q, want nothing", tt.args, stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) || !strings.Contains(stderr, "usage:") {
				t.Errorf("%v: stderr %q, want %q and the usage", tt.args, stderr, tt.wantStderr)
			}
		})
	}

	if got := f.left(t); len(got) != 2 {
		t.Errorf("bad usage changed the records: %v left, want both", got)
	}
	if got := f.queued(t); got != 0 {
		t.Errorf("bad usage queued %d messages, want 0", got)
	}
}

func TestDLQHelpExits0(t *testing.T) {
	f := newDLQFixture(t, false)

	for _, args := range [][]string{{"help"}, {"--help"}, {"replay", "-h"}} {
		code, stdout, stderr := f.run(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "usage: salerelay dlq") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout",
				args, code, stdout, stderr)
		}
	}
}

func TestDLQStoreFailureExits1(t *testing.T) {
	f := newDLQFixture(t, false)
	f.broker.Close()

	for _, args := range [][]string{
		{"list"}, {"list", "--json"}, {"show", "1"}, {"replay", "--all"}, {"purge", "--all"},
	} {
		code, stdout, stderr := f.run(t, args...)
		if code != 1 || stderr == "" || strings.Contains(stderr, "usage:") {
			t.Errorf("%v with the broker closed: exit %d, stderr %q; want 1 and a message",
				args, code, stderr)
		}
		if strings.HasPrefix(stdout, "[") {
			t.Errorf("%v with the broker closed printed records: %q", args, stdout)
		}
	}
}
