package pusherlocal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRejectsRequestsWithWrongCredentialsOrClock(t *testing.T) {
	tests := []struct {
		name   string
		skew   time.Duration // how far the server's clock runs ahead of the client's
		secret string
		key    string
		appID  string
		want   int
	}{
		{name: "valid", want: http.StatusOK},
		{name: "wrong secret", secret: "guessed", want: http.StatusUnauthorized},
		{name: "wrong key", key: "other-key", want: http.StatusUnauthorized},
		{name: "wrong app id", appID: "9999", want: http.StatusNotFound},
		{name: "clock 11 min ahead", skew: 11 * time.Minute, want: http.StatusUnauthorized},
		{name: "clock 11 min behind", skew: -11 * time.Minute, want: http.StatusUnauthorized},
		{name: "clock 9 min ahead", skew: 9 * time.Minute, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{Clock: func() time.Time { return time.Now().Add(tt.skew) }})
			client := newClient(f.http, testSecret)
			if tt.secret != "" {
				client.Secret = tt.secret
			}
			if tt.key != "" {
				client.Key = tt.key
			}
			if tt.appID != "" {
				client.AppID = tt.appID
			}

			err := client.Trigger("sale-verification-u1", "sale:confirmed", `{"saleId":"s1"}`)

			if got := statusOf(err); got != tt.want {
				t.Fatalf("Trigger status = %d (err %v), want %d", got, err, tt.want)
			}
			if tt.want != http.StatusOK {
				assertNothingRecorded(t, f.srv)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("answer %q echoes the secret", err)
			}
		})
	}
}

func TestRejectsTamperedOrUnsignedRequests(t *testing.T) {
	const body = `{"name":"sale:confirmed","channels":["c1"],"data":"{}"}`
	other := `{"name":"sale:confirmed","channels":["c2"],"data":"{}"}`
	tests := []struct {
		name string
		req  rawRequest
		want int
	}{
		{name: "signed by hand", req: rawRequest{body: body}, want: http.StatusOK},
		{name: "body_md5 of another body", req: rawRequest{body: body, md5Of: &other},
			want: http.StatusUnauthorized},
		{name: "body_md5 missing", want: http.StatusUnauthorized, req: rawRequest{body: body,
			edit: func(q url.Values) { q.Del("body_md5") }}},
		{name: "signature missing", want: http.StatusUnauthorized, req: rawRequest{body: body,
			edit: func(q url.Values) { q.Del("auth_signature") }}},
		{name: "signature not hex", want: http.StatusUnauthorized, req: rawRequest{body: body,
			edit: func(q url.Values) { q.Set("auth_signature", "zz") }}},
		{name: "query changed after signing", want: http.StatusUnauthorized,
			req: rawRequest{body: body, edit: func(q url.Values) { q.Set("info", "x") }}},
		{name: "wrong auth_version", want: http.StatusUnauthorized, req: rawRequest{body: body,
			edit: func(q url.Values) { q.Set("auth_version", "2.0") }}},
		{name: "timestamp not a number", want: http.StatusUnauthorized,
			req: rawRequest{body: body,
				edit: func(q url.Values) { q.Set("auth_timestamp", "yesterday") }}},
		{name: "stale timestamp", want: http.StatusUnauthorized,
			req: rawRequest{body: body, at: time.Now().Add(-601 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})

			got, answer := f.send(t, tt.req)

			if got != tt.want {
				t.Fatalf("status = %d (%q), want %d", got, answer, tt.want)
			}
			if strings.Contains(answer, testSecret) {
				t.Errorf("answer %q echoes the secret", answer)
			}
			if tt.want != http.StatusOK {
				assertNothingRecorded(t, f.srv)
			}
		})
	}
}
