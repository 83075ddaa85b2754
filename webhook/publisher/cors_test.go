package publisher

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/salerelay/salerelay/events"
)

func TestCORSHeaders(t *testing.T) {
	js := openJetStream(t)
	q := events.NewQueue(js)
	list := []string{"https://ops.example.com", "http://localhost:8081"}
	body := `{"saleId":"s1","userId":"u1","decision":"confirmed"}`

	tests := []struct {
		name       string
		allow      []string
		origin     string
		wantOrigin string
		wantVary   string
	}{
		{"any origin", nil, "https://elsewhere.example", "*", ""},
		{"star entry", []string{"*"}, "https://elsewhere.example", "*", ""},
		{"listed origin", list, "https://ops.example.com", "https://ops.example.com", "Origin"},
		{"second listed origin", list, "http://localhost:8081", "http://localhost:8081",
			"Origin"},
		{"other origin", list, "https://evil.example", "", "Origin"},
		{"no origin", list, "", "", "Origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestHandler(t, Config{APIKey: testKey, AllowOrigins: tt.allow}, q)

			for _, method := range []string{"POST", "OPTIONS"} {
				r := request(method, "Bearer "+testKey, body)
				if tt.origin != "" {
					r.Header.Set("Origin", tt.origin)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)

				if got := w.Header().Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
					t.Errorf("%s: Allow-Origin got %q, want %q", method, got, tt.wantOrigin)
				}
				if got := w.Header().Get("Vary"); got != tt.wantVary {
					t.Errorf("%s: Vary got %q, want %q", method, got, tt.wantVary)
				}
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	js := openJetStream(t)
	h, _ := newTestHandler(t, Config{APIKey: testKey}, events.NewQueue(js))

	r := httptest.NewRequest(http.MethodOptions, Path, nil)
	r.Header.Set("Origin", "https://ops.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	if w.Code != http.StatusNoContent {
		t.Errorf("status: got %d, want 204", w.Code)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST, OPTIONS",
		"Access-Control-Allow-Headers": "Authorization, Content-Type",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	if w.Body.Len() != 0 {
		t.Errorf("body: got %q, want none", w.Body)
	}
	if got := len(readWorkStream(t, js)); got != 0 {
		t.Errorf("stored: got %d, want 0", got)
	}
}

func TestParseOrigins(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"*", []string{"*"}},
		{"", nil},
		{" https://a.example , http://b.example:8080,, ", []string{"https://a.example",
			"http://b.example:8080"}},
	}
	for _, tt := range tests {
		if got := ParseOrigins(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseOrigins(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
