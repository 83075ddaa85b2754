package pusherlocal

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher/pusher-http-go/v5"
)

const (
	testAppID  = "4242"
	testKey    = "test-key"
	testSecret = "test-secret-never-echoed"
)

// fixture is a Server behind httptest and a real pusher-http-go client pointed at it.
type fixture struct {
	srv    *Server
	http   *httptest.Server
	client *pusher.Client
}

// newFixture serves a Server for cfg, filling in the test app's credentials.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	cfg.AppID, cfg.Key, cfg.Secret = testAppID, testKey, testSecret
	srv := New(cfg)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{srv: srv, http: ts, client: newClient(ts, testSecret)}
}

// newClient returns the real client, configured as salerelay configures it.
func newClient(ts *httptest.Server, secret string) *pusher.Client {
	return &pusher.Client{
		AppID:      testAppID,
		Key:        testKey,
		Secret:     secret,
		Host:       strings.TrimPrefix(ts.URL, "http://"),
		Secure:     false,
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	}
}

// statusCodePattern matches how pusher-http-go reports a non-2xx answer: a plain
// error "Status Code: NNN - body". The library exposes the code no other way.
var statusCodePattern = regexp.MustCompile(`Status Code: (\d{3})`)

// statusOf returns 200 for a nil error, the HTTP status inside a pusher-http-go error,
// or 0 for an error that holds no status (network, local validation, decoding).
func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	m := statusCodePattern.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	code, _ := strconv.Atoi(m[1])
	return code
}

// rawRequest describes a request signed by hand the way pusher-http-go signs it, for
// bodies the client refuses to send and for tampering.
type rawRequest struct {
	method string           // default POST
	path   string           // default /apps/{testAppID}/events
	body   string           // sent as is
	md5Of  *string          // body whose MD5 goes into body_md5; default body
	edit   func(url.Values) // changes the query after signing, when set
	secret string           // default testSecret
	at     time.Time        // auth_timestamp; default now
}

// send signs and sends req, returning the status and the answer's body.
func (f *fixture) send(t *testing.T, req rawRequest) (int, string) {
	t.Helper()
	fillDefaults(&req)

	query := url.Values{
		"auth_key":       {testKey},
		"auth_timestamp": {strconv.FormatInt(req.at.Unix(), 10)},
		"auth_version":   {"1.0"},
	}
	if req.method == http.MethodPost {
		sum := md5.Sum([]byte(*req.md5Of))
		query.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	unescaped, _ := url.QueryUnescape(query.Encode())
	mac := hmac.New(sha256.New, []byte(req.secret))
	mac.Write([]byte(req.method + "\n" + req.path + "\n" + unescaped))
	query.Set("auth_signature", hex.EncodeToString(mac.Sum(nil)))
	if req.edit != nil {
		req.edit(query)
	}

	httpReq, err := http.NewRequest(req.method,
		f.http.URL+req.path+"?"+query.Encode(), strings.NewReader(req.body))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	resp, err := f.http.Client().Do(httpReq)
	if err != nil {
		t.Fatalf("send request: %v", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, string(answer)
}

func fillDefaults(req *rawRequest) {
	if req.method == "" {
		req.method = http.MethodPost
	}
	if req.path == "" {
		req.path = "/apps/" + testAppID + "/events"
	}
	if req.md5Of == nil {
		req.md5Of = &req.body
	}
	if req.secret == "" {
		req.secret = testSecret
	}
	if req.at.IsZero() {
		req.at = time.Now()
	}
}

// lockedBuffer is an io.Writer safe to read while the server writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// assertNothingRecorded fails the test when the server recorded any event.
func assertNothingRecorded(t *testing.T, srv *Server) {
	t.Helper()
	if got := srv.Events(); len(got) != 0 {
		t.Errorf("recorded events = %+v, want none", got)
	}
}
