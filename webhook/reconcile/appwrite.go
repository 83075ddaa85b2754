package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/appwrite/sdk-for-go/appwrite"
	"github.com/appwrite/sdk-for-go/client"
	"github.com/appwrite/sdk-for-go/query"
)

// appwriteTime is how Appwrite writes and compares $updatedAt: milliseconds, UTC offset.
const appwriteTime = "2006-01-02T15:04:05.000-07:00"

// rowPage is one answer of the list-rows endpoint, decoded into our own struct: rows stay
// raw so that they are mapped exactly like a webhook body.
type rowPage struct {
	Total int               `json:"total"`
	Rows  []json.RawMessage `json:"rows"`
}

// rowLister lists a table's rows through the Appwrite SDK's client.
type rowLister struct {
	sdk       client.Client // endpoint, project and key headers; never SelfSigned
	transport http.RoundTripper
	timeout   time.Duration
	path      string
	pageSize  int
	attempts  int
	delay     time.Duration
}

func newRowLister(cfg Config) *rowLister {
	// Our own transport, not http.DefaultTransport: the SDK's SelfSigned switch rewrites
	// that one, turning off certificate checks for the whole process.
	var transport http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Transport != nil {
		transport = cfg.Transport
	}

	return &rowLister{
		sdk: appwrite.NewClient(
			appwrite.WithEndpoint(cfg.Endpoint),
			appwrite.WithProject(cfg.ProjectID),
			appwrite.WithKey(cfg.APIKey),
		),
		transport: transport,
		timeout:   cfg.RequestTimeout,
		path: "/tablesdb/" + url.PathEscape(cfg.DatabaseID) + "/tables/" +
			url.PathEscape(cfg.TableID) + "/rows",
		pageSize: cfg.PageSize,
		attempts: cfg.MaxAttempts,
		delay:    cfg.RetryDelay,
	}
}

// listAll returns every row updated after since, ordered by $updatedAt then $id. It
// returns rows only when every page was read.
func (l *rowLister) listAll(ctx context.Context, since time.Time) ([]json.RawMessage, error) {
	// A copy of the SDK client per scan, whose transport carries ctx: the SDK's calls take
	// no context of their own. Never log the copy: its String method prints the key.
	sdk := l.sdk
	sdk.Client = &http.Client{
		Transport:     ctxTransport{ctx: ctx, timeout: l.timeout, next: l.transport},
		CheckRedirect: refuseRedirect,
	}

	var rows []json.RawMessage
	cursor := ""
	for {
		page, err := l.listPageWithRetry(ctx, &sdk, since, cursor)
		if err != nil {
			return nil, err
		}
		rows = append(rows, page.Rows...)

		if len(page.Rows) < l.pageSize {
			return rows, nil
		}
		cursor, err = rowID(page.Rows[len(page.Rows)-1])
		if err != nil {
			return nil, err
		}
	}
}

func (l *rowLister) listPageWithRetry(ctx context.Context, sdk *client.Client, since time.Time,
	cursor string) (rowPage, error) {
	delay := l.delay
	for attempt := 1; ; attempt++ {
		page, err := l.listPage(sdk, since, cursor)
		if err == nil {
			return page, nil
		}
		if ctx.Err() != nil {
			return rowPage{}, fmt.Errorf("list rows: %w", ctx.Err())
		}
		if !transient(err) || attempt >= l.attempts {
			return rowPage{}, fmt.Errorf("list rows after %q (attempt %d of %d): %w",
				cursor, attempt, l.attempts, err)
		}

		// TODO: honour Retry-After on 429; the SDK's error does not expose the headers.
		if err := wait(ctx, jitter(delay)); err != nil {
			return rowPage{}, fmt.Errorf("list rows: %w", err)
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// listPage asks for one page. It calls the list-rows endpoint through the SDK's client
// rather than TablesDB.ListRows: ListRows decodes into models.Row, whose $sequence is an
// int, and servers that send $sequence as a string (Appwrite Cloud does) make the whole
// page fail to decode.
func (l *rowLister) listPage(sdk *client.Client, since time.Time, cursor string) (
	rowPage, error) {
	queries := []string{
		query.UpdatedAfter(since.UTC().Format(appwriteTime)),
		query.OrderAsc("$updatedAt"),
		query.OrderAsc("$id"),
		query.Limit(l.pageSize),
	}
	if cursor != "" {
		queries = append(queries, query.CursorAfter(cursor))
	}

	resp, err := sdk.Call(http.MethodGet, l.path, nil, map[string]any{"queries": queries})
	if err != nil {
		return rowPage{}, describe(err)
	}
	body, ok := resp.Result.(string) // the SDK hands JSON answers back as a string
	if !ok {
		return rowPage{}, fmt.Errorf("list rows: answer is %q, not JSON", resp.Type)
	}

	var page rowPage
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		return rowPage{}, fmt.Errorf("decode rows page: %w", err)
	}
	return page, nil
}

// AppwriteError is a non-2xx answer from Appwrite.
type AppwriteError struct {
	Status  int    // HTTP status
	Message string // Appwrite's message, e.g. "The current user is not authorized ..."
}

func (e *AppwriteError) Error() string {
	return fmt.Sprintf("appwrite answered %d: %s", e.Status, e.Message)
}

// Transient reports whether trying again later may succeed: 429 and 5xx.
func (e *AppwriteError) Transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// maxMessage caps the answer text kept in an error.
const maxMessage = 200

// describe turns the SDK's errors into ours. Network errors keep their *url.Error, whose
// text holds the request URL: endpoint and queries, never the key (a header).
func describe(err error) error {
	if ae, ok := errors.AsType[*client.AppwriteError](err); ok {
		msg := ae.GetMessage()
		if len(msg) > maxMessage { // a proxy's HTML error page, not Appwrite's JSON
			msg = msg[:maxMessage] + "…"
		}
		return &AppwriteError{Status: ae.GetStatusCode(), Message: msg}
	}
	return err
}

// errRedirect marks an endpoint that answers with a redirect, usually http:// for an
// https:// server. Following it would send the key, a plain header, to wherever it points.
var errRedirect = errors.New("appwrite redirected the request: set APPWRITE_ENDPOINT " +
	"to the final URL")

func refuseRedirect(*http.Request, []*http.Request) error { return errRedirect }

// transient reports whether a failed request may succeed when tried again.
func transient(err error) bool {
	if errors.Is(err, errRedirect) {
		return false
	}
	if ae, ok := errors.AsType[*AppwriteError](err); ok {
		return ae.Transient()
	}
	// Timeouts, refused and reset connections: the SDK's only other errors are request
	// building and decoding ones, which would fail again.
	_, network := errors.AsType[*url.Error](err)
	return network
}

func rowID(raw json.RawMessage) (string, error) {
	var row struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(raw, &row); err != nil || row.ID == "" {
		return "", errors.New("decode rows page: a row has no $id to continue from")
	}
	return row.ID, nil
}

// ctxTransport binds every request to the scan's ctx with a per-request timeout, so that
// cancelling a scan aborts its requests. The SDK builds its requests without a context.
type ctxTransport struct {
	ctx     context.Context
	timeout time.Duration
	next    http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	resp, err := t.next.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's timeout once its body is closed; the SDK closes it
// after reading.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
