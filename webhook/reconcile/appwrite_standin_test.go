package reconcile

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials the stand-in accepts.
const (
	testProject  = "salerelay-test"
	testAPIKey   = "standard_8f14e45fceea167a5a36dedd4bea2543"
	testDatabase = "shop"
	testTable    = "sales"
)

// standinRow is one sale row as Appwrite 1.8 serves it.
type standinRow struct {
	ID        string
	Sequence  any // a number or a string: Appwrite versions differ
	UpdatedAt time.Time
	State     string
	UserID    string
	Amount    float64
	Products  string // a JSON array in a string, as the sales table stores it
}

func (r standinRow) object() map[string]any {
	return map[string]any{
		"$id":          r.ID,
		"$sequence":    r.Sequence,
		"$createdAt":   r.UpdatedAt.Add(-time.Hour).Format(appwriteTime),
		"$updatedAt":   r.UpdatedAt.Format(appwriteTime),
		"$permissions": []string{`read("user:` + r.UserID + `")`},
		"$databaseId":  testDatabase,
		"$tableId":     testTable,
		"buy_state":    r.State,
		"user_id":      r.UserID,
		"amount":       r.Amount,
		"products":     r.Products,
		"currency":     "EUR",
	}
}

// appwriteStandin is a local stand-in of the Appwrite REST API's list-rows endpoint. It
// implements the queries the scanner sends and fails on command.
type appwriteStandin struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	rows     []standinRow
	failSkip int // requests to answer normally before failing
	failCode int // status of the failing answers
	failLeft int // failing answers still to give
	requests int
	scans    []string // the updatedAfter value of each first-page request
}

func newAppwriteStandin(t *testing.T, rows []standinRow) *appwriteStandin {
	t.Helper()
	s := &appwriteStandin{t: t, rows: rows}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tablesdb/{db}/tables/{table}/rows", s.listRows)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// endpoint is the APPWRITE_ENDPOINT of the stand-in.
func (s *appwriteStandin) endpoint() string { return s.srv.URL + "/v1" }

// failAfter answers skip requests normally, then the next n with status.
func (s *appwriteStandin) failAfter(skip, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSkip, s.failCode, s.failLeft = skip, status, n
}

func (s *appwriteStandin) addRows(rows ...standinRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, rows...)
}

func (s *appwriteStandin) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// scanSinces returns the updatedAfter value of every scan's first page, in order.
func (s *appwriteStandin) scanSinces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scans)
}

// appwriteQuery is one entry of queries[], as the SDK encodes it.
type appwriteQuery struct {
	Method    string `json:"method"`
	Attribute string `json:"attribute"`
	Values    []any  `json:"values"`
}

func (s *appwriteStandin) listRows(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++

	if r.Header.Get("X-Appwrite-Project") != testProject ||
		r.Header.Get("X-Appwrite-Key") != testAPIKey {
		appwriteError(w, http.StatusUnauthorized, "general_unauthorized_scope",
			"The current user is not authorized to perform the requested action.")
		return
	}
	if r.PathValue("db") != testDatabase || r.PathValue("table") != testTable {
		appwriteError(w, http.StatusNotFound, "table_not_found", "Table not found.")
		return
	}
	if s.failSkip > 0 {
		s.failSkip--
	} else if s.failLeft > 0 {
		s.failLeft--
		appwriteError(w, s.failCode, "general_server_error", "Server Error")
		return
	}

	page, err := s.query(r.URL.Query()["queries[]"])
	if err != nil {
		appwriteError(w, http.StatusBadRequest, "general_query_invalid", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

// query filters, orders and pages the rows as Appwrite would. Called with s.mu held.
func (s *appwriteStandin) query(raw []string) (map[string]any, error) {
	var (
		after  *time.Time
		cursor string
		order  []string
		limit  = 25 // Appwrite's default
	)
	for _, text := range raw {
		var q appwriteQuery
		if err := json.Unmarshal([]byte(text), &q); err != nil {
			return nil, fmt.Errorf("invalid query %q: %w", text, err)
		}
		switch {
		case q.Method == "greaterThan" && q.Attribute == "$updatedAt" && len(q.Values) == 1:
			text, _ := q.Values[0].(string)
			t, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				return nil, fmt.Errorf("invalid $updatedAt %q", text)
			}
			after = &t
			s.scanFirstPage(raw, text)
		case q.Method == "cursorAfter" && len(q.Values) == 1:
			cursor, _ = q.Values[0].(string)
		case q.Method == "orderAsc":
			order = append(order, q.Attribute)
		case q.Method == "limit" && len(q.Values) == 1:
			n, _ := q.Values[0].(float64)
			limit = int(n)
		default:
			return nil, fmt.Errorf("query %q not supported by the stand-in", text)
		}
	}

	var rows []standinRow
	for _, row := range s.rows {
		if after == nil || row.UpdatedAt.Truncate(time.Millisecond).After(*after) {
			rows = append(rows, row)
		}
	}
	slices.SortStableFunc(rows, func(a, b standinRow) int {
		for _, attr := range order {
			var c int
			switch attr {
			case "$updatedAt":
				c = a.UpdatedAt.Compare(b.UpdatedAt)
			case "$id":
				c = strings.Compare(a.ID, b.ID)
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})

	if cursor != "" {
		i := slices.IndexFunc(rows, func(r standinRow) bool { return r.ID == cursor })
		if i < 0 {
			return nil, fmt.Errorf("cursor %q not found", cursor)
		}
		rows = rows[i+1:]
	}

	total := len(rows)
	rows = rows[:min(limit, len(rows))]
	objects := make([]map[string]any, len(rows))
	for i, row := range rows {
		objects[i] = row.object()
	}
	return map[string]any{"total": total, "rows": objects}, nil
}

func (s *appwriteStandin) scanFirstPage(raw []string, since string) {
	for _, text := range raw {
		if strings.Contains(text, `"cursorAfter"`) {
			return
		}
	}
	s.scans = append(s.scans, since)
}

func appwriteError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"message": msg, "code": status, "type": kind, "version": "1.8.0",
	})
}

// saleRows makes n rows updated one second apart from start, two by two sharing the same
// $updatedAt so that pages end between equal times. States cycle through VERIFIED,
// DELETED, UNVERIFIED and PENDING; $sequence alternates between number and string.
func saleRows(start time.Time, n int) []standinRow {
	states := []string{"VERIFIED", "DELETED", "UNVERIFIED", "PENDING"}
	rows := make([]standinRow, n)
	for i := range rows {
		var seq any = i + 1
		if i%2 == 1 {
			seq = strconv.Itoa(i + 1)
		}
		rows[i] = standinRow{
			ID:        fmt.Sprintf("sale%04d", n-i), // ids run against time order
			Sequence:  seq,
			UpdatedAt: start.Add(time.Duration(i/2) * time.Second),
			State:     states[i%len(states)],
			UserID:    fmt.Sprintf("user%02d", i%7),
			Amount:    float64(i) + 0.5,
			Products:  fmt.Sprintf(`[{"productId":"p1","quantity":%d,"price":2.5}]`, i%3+1),
		}
	}
	return rows
}

// decidedCount is how many rows carry a decision.
func decidedCount(rows []standinRow) int {
	n := 0
	for _, r := range rows {
		if r.State == "VERIFIED" || r.State == "DELETED" {
			n++
		}
	}
	return n
}
