package dlq

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testToken = "admin-token-never-logged"

// adminFixture is an admin handler on a real store holding two records: "recent", an
// exhausted record that failed a minute ago, and "old", a permanent one from two days ago.
type adminFixture struct {
	handler http.Handler
	store   *Store
	ids     map[string]uint64 // record id by sale id
	logs    *bytes.Buffer
}

func newAdminFixture(t *testing.T, token string) *adminFixture {
	t.Helper()
	s, _ := newTestStore(t)
	f := &adminFixture{store: s, ids: map[string]uint64{}, logs: &bytes.Buffer{}}

	recent := testRecord(t, 1, "recent", Exhausted)
	recent.LastFailedAt = time.Now().Add(-time.Minute).UTC()
	old := testRecord(t, 2, "old", Permanent)
	old.LastFailedAt = time.Now().Add(-48 * time.Hour).UTC()
	for _, rec := range []Record{recent, old} {
		f.ids[rec.SaleID] = mustAdd(t, s, rec)
	}

	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.handler = NewAdminHandler(s, token, log)
	return f
}

// do serves one request; path may name a record as {recent} or {old}.
func (f *adminFixture) do(t *testing.T, method, path, auth string) *httptest.ResponseRecorder {
	t.Helper()
	for sale, id := range f.ids {
		path = strings.ReplaceAll(path, "{"+sale+"}", strconv.FormatUint(id, 10))
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// bearer is a valid Authorization header.
const bearer = "Bearer " + testToken

func TestAdminRejectsMissingOrWrongToken(t *testing.T) {
	f := newAdminFixture(t, testToken)

	tests := []struct {
		name   string
		method string
		path   string
		auth   string
	}{
		{"no header on list", http.MethodGet, "/admin/dlq", ""},
		{"no header on replay all", http.MethodPost, "/admin/dlq/replay", ""},
		{"wrong token", http.MethodGet, "/admin/dlq", "Bearer nope"},
		{"token prefix", http.MethodGet, "/admin/dlq/{recent}", "Bearer admin-token"},
		{"token with suffix", http.MethodDelete, "/admin/dlq/{recent}", bearer + "x"},
		{"basic scheme", http.MethodGet, "/admin/dlq", "Basic " + testToken},
		{"scheme only", http.MethodPost, "/admin/dlq/{recent}/replay", "Bearer"},
		{"unknown route", http.MethodGet, "/admin/other", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, tt.method, tt.path, tt.auth)
			assertJSON(t, rec, http.StatusUnauthorized, `{"ok":false,"error":"Unauthorized"}`)
		})
	}

	if n, _ := f.store.Count(t.Context()); n != 2 {
		t.Errorf("dead-letter stream holds %d records after unauthorized calls, want 2", n)
	}
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	f := newAdminFixture(t, "")

	for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
		for _, route := range [][2]string{
			{http.MethodGet, "/admin/dlq"},
			{http.MethodGet, "/admin/dlq/{recent}"},
			{http.MethodPost, "/admin/dlq/replay"},
			{http.MethodDelete, "/admin/dlq/{recent}"},
		} {
			rec := f.do(t, route[0], route[1], auth)
			if rec.Code != http.StatusNotFound {
				t.Errorf("%s %s with %q: status %d, want 404", route[0], route[1], auth, rec.Code)
			}
		}
	}
	if n, _ := f.store.Count(t.Context()); n != 2 {
		t.Errorf("dead-letter stream holds %d records with the API disabled, want 2", n)
	}
}

func TestAdminReads(t *testing.T) {
	f := newAdminFixture(t, testToken)

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantSales  []string // sales of the answered array or record
	}{
		{"list all", "/admin/dlq", http.StatusOK, []string{"recent", "old"}},
		{"list since", "/admin/dlq?since=1h", http.StatusOK, []string{"recent"}},
		{"list class", "/admin/dlq?class=permanent", http.StatusOK, []string{"old"}},
		{"list nothing", "/admin/dlq?class=poison", http.StatusOK, []string{}},
		{"list bad since", "/admin/dlq?since=yesterday", http.StatusBadRequest, nil},
		{"list negative since", "/admin/dlq?since=-1h", http.StatusBadRequest, nil},
		{"list bad class", "/admin/dlq?class=fatal", http.StatusBadRequest, nil},
		{"show", "/admin/dlq/{old}", http.StatusOK, []string{"old"}},
		{"show unknown id", "/admin/dlq/999", http.StatusNotFound, nil},
		{"show id zero", "/admin/dlq/0", http.StatusBadRequest, nil},
		{"show bad id", "/admin/dlq/abc", http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, http.MethodGet, tt.path, bearer)
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d; body %s",
					tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantSales == nil {
				assertErrorBody(t, rec)
				return
			}

			got := decodeRecords(t, rec.Body.Bytes())
			if sales := saleIDs(got); !reflect.DeepEqual(sales, tt.wantSales) {
				t.Errorf("GET %s: sales %v, want %v", tt.path, sales, tt.wantSales)
			}
		})
	}
}

func TestAdminMutations(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string   // exact JSON answer, when set
		wantLeft   []string // sales still dead-lettered
		wantWork   int      // messages requeued on the work stream
	}{
		{"replay one", http.MethodPost, "/admin/dlq/{old}/replay", http.StatusOK,
			`{"ok":true,"id":2,"replayed":1}`, []string{"recent"}, 1},
		{"replay unknown", http.MethodPost, "/admin/dlq/999/replay", http.StatusNotFound,
			"", []string{"recent", "old"}, 0},
		{"replay bad id", http.MethodPost, "/admin/dlq/x/replay", http.StatusBadRequest,
			"", []string{"recent", "old"}, 0},
		{"replay all", http.MethodPost, "/admin/dlq/replay", http.StatusOK,
			`{"ok":true,"replayed":2}`, []string{}, 2},
		{"replay all of a class", http.MethodPost, "/admin/dlq/replay?class=exhausted",
			http.StatusOK, `{"ok":true,"replayed":1}`, []string{"old"}, 1},
		{"replay all since", http.MethodPost, "/admin/dlq/replay?since=1h", http.StatusOK,
			`{"ok":true,"replayed":1}`, []string{"old"}, 1},
		{"replay all bad since", http.MethodPost, "/admin/dlq/replay?since=1",
			http.StatusBadRequest, "", []string{"recent", "old"}, 0},
		{"delete", http.MethodDelete, "/admin/dlq/{recent}", http.StatusOK,
			`{"ok":true,"id":1,"deleted":1}`, []string{"old"}, 0},
		{"delete unknown", http.MethodDelete, "/admin/dlq/999", http.StatusNotFound,
			"", []string{"recent", "old"}, 0},
		{"delete bad id", http.MethodDelete, "/admin/dlq/-1", http.StatusBadRequest,
			"", []string{"recent", "old"}, 0},
		{"wrong method", http.MethodPut, "/admin/dlq/{old}", http.StatusMethodNotAllowed,
			"", []string{"recent", "old"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAdminFixture(t, testToken)

			rec := f.do(t, tt.method, tt.path, bearer)
			switch {
			case tt.wantBody != "":
				assertJSON(t, rec, tt.wantStatus, tt.wantBody)
			case rec.Code != tt.wantStatus:
				t.Errorf("%s %s: status %d, want %d; body %s",
					tt.method, tt.path, rec.Code, tt.wantStatus, rec.Body)
			case tt.wantStatus != http.StatusMethodNotAllowed:
				assertErrorBody(t, rec)
			}

			left, err := f.store.List(t.Context(), Filter{})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := saleIDs(left); !reflect.DeepEqual(got, tt.wantLeft) {
				t.Errorf("records left = %v, want %v", got, tt.wantLeft)
			}
			if got := len(workMessages(t, f.store.js)); got != tt.wantWork {
				t.Errorf("work stream holds %d messages, want %d", got, tt.wantWork)
			}
		})
	}
}

func TestAdminAnswers503WhenStoreFails(t *testing.T) {
	b := newTestBroker(t)
	h := NewAdminHandler(NewStore(b.JS), testToken, slog.New(slog.DiscardHandler))
	b.Close()

	tests := []struct{ method, path string }{
		{http.MethodGet, "/admin/dlq"},
		{http.MethodGet, "/admin/dlq/1"},
		{http.MethodPost, "/admin/dlq/1/replay"},
		{http.MethodPost, "/admin/dlq/replay"},
		{http.MethodDelete, "/admin/dlq/1"},
	}
	for _, tt := range tests {
		req := httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, nil)
		req.Header.Set("Authorization", bearer)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the broker closed: status %d, want 503; body %s",
				tt.method, tt.path, rec.Code, rec.Body)
			continue
		}
		assertErrorBody(t, rec)
	}
}

func TestAdminLogsMutationsWithoutToken(t *testing.T) {
	f := newAdminFixture(t, testToken)

	f.do(t, http.MethodPost, "/admin/dlq/{recent}/replay", bearer)
	f.do(t, http.MethodDelete, "/admin/dlq/{old}", bearer)
	f.do(t, http.MethodDelete, "/admin/dlq/999", bearer)
	f.do(t, http.MethodGet, "/admin/dlq", bearer)
	f.do(t, http.MethodGet, "/admin/dlq", "Bearer wrong")

	logs := f.logs.String()
	if strings.Contains(logs, testToken) {
		t.Fatalf("logs contain the admin token:\n%s", logs)
	}

	lines := strings.Split(strings.TrimSpace(logs), "\n")
	want := []map[string]any{
		{"msg": "dead-letter record replayed", "dlq_id": 1.0, "sale_id": "recent"},
		{"msg": "dead-letter record deleted", "dlq_id": 2.0, "sale_id": "old"},
		{"msg": "dead-letter delete failed", "dlq_id": 999.0, "sale_id": ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d log lines, want %d (one per mutation):\n%s", len(lines), len(want), logs)
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("log line %d is not JSON: %v", i, err)
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("log line %d: %s = %v, want %v", i, k, got[k], v)
			}
		}
	}
	if !strings.Contains(lines[2], `"err":`) {
		t.Errorf("failed mutation logged without err: %s", lines[2])
	}
}

// assertJSON checks the status and that the body is the JSON document want.
func assertJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}

	var got, wantV any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, wantV) {
		t.Errorf("body %s, want %s", strings.TrimSpace(rec.Body.String()), want)
	}
}

// assertErrorBody checks for {"ok":false,"error":"<something>"}.
func assertErrorBody(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	var body struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if body.OK == nil || *body.OK || body.Error == "" {
		t.Errorf(`error body = ok %v, error %q; want ok false and a message`, body.OK, body.Error)
	}
}

// decodeRecords reads an answer holding a record array, or a single record.
func decodeRecords(t *testing.T, body []byte) []Record {
	t.Helper()
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		var rec Record
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatalf("record body %q: %v", body, err)
		}
		return []Record{rec}
	}
	var records []Record
	if err := json.Unmarshal(body, &records); err != nil {
		t.Fatalf("records body %q: %v", body, err)
	}
	if records == nil {
		t.Fatalf("records body %q is not an array", body)
	}
	return records
}
