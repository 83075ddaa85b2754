package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salerelay/salerelay/events"
)

func TestScanEnqueuesDecidedRowsOnce(t *testing.T) {
	rows := saleRows(base, 250)
	f := newFixture(t, rows, nil, nil)
	ctx := context.Background()
	decided := decidedCount(rows)

	first, err := f.scanner.Scan(ctx, base.Add(-time.Hour), false)
	if err != nil {
		t.Fatalf("first scan: %v", err)
	}
	want := Summary{Scanned: 250, Decided: decided, Enqueued: decided,
		Newest: base.Add(124 * time.Second)}
	checkCounts(t, "first scan", first, want)
	if got := f.appw.requestCount(); got != 3 {
		t.Errorf("requests: got %d, want 3 pages of at most 100", got)
	}

	stored := storedDecisions(t, f.js)
	if len(stored) != decided {
		t.Fatalf("stored: got %d decisions, want %d", len(stored), decided)
	}
	checkStoredSales(t, stored, rows)

	second, err := f.scanner.Scan(ctx, base.Add(-time.Hour), false)
	if err != nil {
		t.Fatalf("second scan: %v", err)
	}
	want.Enqueued, want.Duplicates = 0, decided
	checkCounts(t, "second scan", second, want)
	if got := len(storedDecisions(t, f.js)); got != decided {
		t.Errorf("stored after second scan: got %d, want still %d", got, decided)
	}

	if got := testutil.ToFloat64(f.scanner.metrics.found); got != float64(decided) {
		t.Errorf("found_total: got %v, want %d (the second scan found nothing new)", got,
			decided)
	}
	if got := testutil.ToFloat64(f.scanner.metrics.scanned); got != 500 {
		t.Errorf("scanned_total: got %v, want 500", got)
	}
}

// checkStoredSales compares the stored decisions with what the rows say.
func checkStoredSales(t *testing.T, stored []events.SaleDecision, rows []standinRow) {
	t.Helper()
	byID := map[string]events.SaleDecision{}
	for _, d := range stored {
		if _, dup := byID[d.SaleID]; dup {
			t.Errorf("sale %s stored twice", d.SaleID)
		}
		byID[d.SaleID] = d
	}

	for i, row := range rows {
		d, ok := byID[row.ID]
		switch row.State {
		case "UNVERIFIED", "PENDING":
			if ok {
				t.Errorf("row %d (%s): undecided row stored", i, row.State)
			}
			continue
		}
		if !ok {
			t.Errorf("row %d (%s, %s): not stored", i, row.ID, row.State)
			continue
		}

		want := events.SaleDecision{
			SaleID:       row.ID,
			UserID:       row.UserID,
			Decision:     events.Confirmed,
			Timestamp:    row.UpdatedAt.UnixMilli(),
			Amount:       json.RawMessage(mustJSON(t, row.Amount)),
			ProductCount: json.RawMessage(mustJSON(t, i%3+1)),
			Source:       events.SourceReconcile,
			ReceivedAt:   base.Add(2 * time.Hour).UnixMilli(),
		}
		if row.State == "DELETED" {
			want.Decision = events.Rejected
			want.Cause = json.RawMessage(`"rejected_by_operator"`)
		}
		if got, want := mustJSON(t, d), mustJSON(t, want); got != want {
			t.Errorf("row %d: stored\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestScanSinceFiltersRows(t *testing.T) {
	f := newFixture(t, saleRows(base, 250), nil, nil)

	tests := []struct {
		name        string
		since       time.Time
		wantScanned int
		wantNewest  time.Time
	}{
		{"before all", base.Add(-time.Hour), 250, base.Add(124 * time.Second)},
		{"strictly after", base.Add(100 * time.Second), 48, base.Add(124 * time.Second)},
		{"at the newest", base.Add(124 * time.Second), 0, time.Time{}},
		{"just before the newest", base.Add(124*time.Second - time.Millisecond), 2,
			base.Add(124 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := f.scanner.Scan(context.Background(), tt.since, true)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if sum.Scanned != tt.wantScanned || !sum.Newest.Equal(tt.wantNewest) {
				t.Errorf("got scanned %d newest %s, want %d %s", sum.Scanned, sum.Newest,
					tt.wantScanned, tt.wantNewest)
			}
		})
	}
}

func TestScanDryRunEnqueuesNothing(t *testing.T) {
	rows := saleRows(base, 250)
	f := newFixture(t, rows, nil, nil)

	sum, err := f.scanner.Scan(context.Background(), base.Add(-time.Hour), true)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}

	decided := decidedCount(rows)
	checkCounts(t, "dry run", sum, Summary{Scanned: 250, Decided: decided, DryRun: true,
		Newest: base.Add(124 * time.Second)})
	if len(sum.Decisions) != decided {
		t.Errorf("decisions listed: got %d, want %d", len(sum.Decisions), decided)
	}
	if got := len(storedDecisions(t, f.js)); got != 0 {
		t.Errorf("stored: got %d, want 0", got)
	}
	if got := testutil.ToFloat64(f.scanner.metrics.found); got != 0 {
		t.Errorf("found_total: got %v, want 0", got)
	}
}

func TestScanRetriesTransientErrors(t *testing.T) {
	tests := []struct {
		name   string
		skip   int // pages answered before the failures
		status int
		n      int
	}{
		{"rate limited twice", 0, http.StatusTooManyRequests, 2},
		{"500 once on the second page", 1, http.StatusInternalServerError, 1},
		{"502 three times on the last page", 2, http.StatusBadGateway, 3},
		{"503 four times", 0, http.StatusServiceUnavailable, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := saleRows(base, 250)
			f := newFixture(t, rows, nil, nil)
			f.appw.failAfter(tt.skip, tt.status, tt.n)

			sum, err := f.scanner.Scan(context.Background(), base.Add(-time.Hour), false)
			if err != nil {
				t.Fatalf("scan: got error %v, want success after retries", err)
			}
			if got, want := f.appw.requestCount(), 3+tt.n; got != want {
				t.Errorf("requests: got %d, want %d", got, want)
			}
			if sum.Enqueued != decidedCount(rows) {
				t.Errorf("enqueued: got %d, want %d", sum.Enqueued, decidedCount(rows))
			}
			if got := len(storedDecisions(t, f.js)); got != decidedCount(rows) {
				t.Errorf("stored: got %d, want %d", got, decidedCount(rows))
			}
		})
	}
}

func TestScanPersistentFailureEnqueuesNothing(t *testing.T) {
	tests := []struct {
		name   string
		skip   int
		status int
	}{
		{"500 from the first page", 0, http.StatusInternalServerError},
		{"500 from the second page", 1, http.StatusInternalServerError},
		{"429 on the last page", 2, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, saleRows(base, 250), nil, func(c *Config) { c.MaxAttempts = 3 })
			f.appw.failAfter(tt.skip, tt.status, 1000)

			_, err := f.scanner.Scan(context.Background(), base.Add(-time.Hour), false)

			ae, ok := errors.AsType[*AppwriteError](err)
			if !ok || ae.Status != tt.status {
				t.Fatalf("error: got %v, want an AppwriteError with status %d", err, tt.status)
			}
			if strings.Contains(err.Error(), testAPIKey) {
				t.Errorf("error text holds the API key: %v", err)
			}
			if got, want := f.appw.requestCount(), tt.skip+3; got != want {
				t.Errorf("requests: got %d, want %d (pages read, then 3 attempts)", got, want)
			}
			if got := len(storedDecisions(t, f.js)); got != 0 {
				t.Errorf("stored: got %d, want 0 (never half-applied)", got)
			}
		})
	}
}

func TestScanWrongKeyFailsWithoutRetry(t *testing.T) {
	f := newFixture(t, saleRows(base, 10), nil, func(c *Config) { c.APIKey = "wrong-key" })

	_, err := f.scanner.Scan(context.Background(), base.Add(-time.Hour), false)

	if ae, ok := errors.AsType[*AppwriteError](err); !ok || ae.Status != 401 {
		t.Fatalf("error: got %v, want an AppwriteError with status 401", err)
	}
	if strings.Contains(err.Error(), "wrong-key") {
		t.Errorf("error text holds the API key: %v", err)
	}
	if got := f.appw.requestCount(); got != 1 {
		t.Errorf("requests: got %d, want 1 (401 is not retried)", got)
	}
}

func TestScanStopsWhenContextEnds(t *testing.T) {
	f := newFixture(t, saleRows(base, 10), nil, func(c *Config) { c.RetryDelay = time.Hour })
	f.appw.failAfter(0, http.StatusServiceUnavailable, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	_, err := f.scanner.Scan(ctx, base.Add(-time.Hour), false)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error: got %v, want context.DeadlineExceeded", err)
	}
	if got := f.appw.requestCount(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
}

func TestScanSkipsAlreadyDelivered(t *testing.T) {
	at := base.Add(time.Minute)
	ms := at.UnixMilli()
	row := func(id, state string) standinRow {
		return standinRow{ID: id, Sequence: id, UpdatedAt: at, State: state, UserID: "u-" + id,
			Amount: 10, Products: `[{"productId":"p","quantity":1}]`}
	}
	rows := []standinRow{
		row("s1", "VERIFIED"),   // delivered by its webhook
		row("s2", "VERIFIED"),   // delivered through the old endpoint, later receive time
		row("s3", "DELETED"),    // an older rejection was delivered, not this one
		row("s4", "DELETED"),    // an earlier confirmation was delivered: found
		row("s5", "VERIFIED"),   // nothing delivered: found
		row("s6", "UNVERIFIED"), // undecided
	}
	ledger := fakeLedger{delivered: map[string]events.Delivery{
		"s1": {Decision: events.Confirmed, Timestamp: ms},
		"s2": {Decision: events.Confirmed, Timestamp: ms + 4000},
		"s3": {Decision: events.Rejected, Timestamp: ms - 3_600_000},
		"s4": {Decision: events.Confirmed, Timestamp: ms - 60_000},
	}}
	f := newFixture(t, rows, ledger, nil)

	sum, err := f.scanner.Scan(context.Background(), base, false)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}

	checkCounts(t, "scan", sum, Summary{Scanned: 6, Decided: 5, AlreadyDelivered: 2,
		Enqueued: 3, Newest: at})
	var got []string
	for _, d := range storedDecisions(t, f.js) {
		got = append(got, d.SaleID)
	}
	slices.Sort(got)
	if want := []string{"s3", "s4", "s5"}; !slices.Equal(got, want) {
		t.Errorf("stored sales: got %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(f.scanner.metrics.found); got != 3 {
		t.Errorf("found_total: got %v, want 3", got)
	}
	if n, err := testutil.GatherAndCount(f.reg, "salerelay_reconcile_found_total"); err != nil ||
		n != 1 {
		t.Errorf("found_total registered: got %d series (%v), want 1", n, err)
	}
}

func TestScanLookupFailureEnqueuesNothing(t *testing.T) {
	ledger := fakeLedger{err: errors.New("ledger bucket unavailable")}
	f := newFixture(t, saleRows(base, 20), ledger, nil)

	_, err := f.scanner.Scan(context.Background(), base.Add(-time.Hour), false)

	if err == nil || !strings.Contains(err.Error(), "ledger bucket unavailable") {
		t.Errorf("error: got %v, want the lookup's error", err)
	}
	if got := len(storedDecisions(t, f.js)); got != 0 {
		t.Errorf("stored: got %d, want 0", got)
	}
}

func TestNewScannerReportsEveryMissingSetting(t *testing.T) {
	_, err := NewScanner(Config{Endpoint: "cloud.appwrite.io"}, nil, nil, nil, nil)

	if !errors.Is(err, ErrConfig) {
		t.Fatalf("error: got %v, want ErrConfig", err)
	}
	for _, name := range []string{"APPWRITE_ENDPOINT must be", "APPWRITE_PROJECT_ID",
		"APPWRITE_API_KEY", "APPWRITE_DATABASE_ID", "APPWRITE_SALES_COLLECTION_ID"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// checkCounts compares everything in a summary but the decision list.
func checkCounts(t *testing.T, what string, got, want Summary) {
	t.Helper()
	got.Since, want.Since = time.Time{}, time.Time{}
	got.Decisions, want.Decisions = nil, nil
	if !got.Newest.Equal(want.Newest) {
		t.Errorf("%s: newest got %s, want %s", what, got.Newest, want.Newest)
	}
	got.Newest, want.Newest = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: summary\n got %+v\nwant %+v", what, got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

func TestScanRefusesRedirect(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Appwrite-Key") != "" {
			t.Errorf("the API key followed the redirect to another host")
		}
	}))
	t.Cleanup(target.Close)
	f := newFixture(t, saleRows(base, 10), nil, nil)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/v1", http.StatusFound))
	t.Cleanup(redirect.Close)
	scanner, _, _ := f.newScanner(t, nil, func(c *Config) { c.Endpoint = redirect.URL + "/v1" })

	_, err := scanner.Scan(context.Background(), base, false)

	if !errors.Is(err, errRedirect) {
		t.Errorf("error: got %v, want errRedirect", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target: got %d requests, want 0", n)
	}
}
