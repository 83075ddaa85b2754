package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// PusherConfig says which Pusher app to publish to.
type PusherConfig struct {
	AppID, Key, Secret string
	Cluster            string // default mt1
	Host               string // overrides the cluster host, e.g. 127.0.0.1:6001
	TLS                bool

	// Timeout bounds one call, default 10 s. The consumer's ack wait is kept well above it.
	Timeout time.Duration
	// MaxConns caps connections to Pusher, default 64; the pool sizes it to its workers.
	MaxConns int
}

// Pusher sends events with pusher-http-go. It is safe for concurrent use.
type Pusher struct {
	base      pusher.Client
	transport http.RoundTripper
	timeout   time.Duration
}

// NewPusher returns a Pusher for cfg.
func NewPusher(cfg PusherConfig) *Pusher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 64
	}
	if cfg.Cluster == "" && cfg.Host == "" {
		cfg.Cluster = "mt1"
	}

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = cfg.MaxConns
	t.MaxIdleConnsPerHost = cfg.MaxConns // the default of 2 would reopen connections
	t.MaxConnsPerHost = cfg.MaxConns

	return &Pusher{
		base: pusher.Client{
			AppID: cfg.AppID, Key: cfg.Key, Secret: cfg.Secret,
			Cluster: cfg.Cluster, Host: cfg.Host, Secure: cfg.TLS,
		},
		transport: t,
		timeout:   cfg.Timeout,
	}
}

// Event is one event to send.
type Event struct {
	Channel string
	Name    string
	Data    []byte
}

// Send publishes events in one call: the trigger endpoint for one event, the batch
// endpoint for up to ten. Its error is a [*SendError] whose Class says what to do next.
func (p *Pusher) Send(ctx context.Context, evs []Event) error {
	client, call := p.client(ctx)

	var err error
	if len(evs) == 1 {
		err = client.Trigger(evs[0].Channel, evs[0].Name, string(evs[0].Data))
	} else {
		batch := make([]pusher.Event, len(evs))
		for i, e := range evs {
			batch[i] = pusher.Event{Channel: e.Channel, Name: e.Name, Data: string(e.Data)}
		}
		_, err = client.TriggerBatch(batch)
	}
	return classify(call, err)
}

// Probe makes a cheap authenticated call (list channels) to learn whether Pusher answers
// again after an outage. Any answer below 500 other than 429 counts as up.
func (p *Pusher) Probe(ctx context.Context) error {
	client, call := p.client(ctx)
	_, err := client.Channels(pusher.ChannelsParams{})
	err = classify(call, err)

	var se *SendError
	if errors.As(err, &se) && se.Class != Transient {
		return nil
	}
	return err
}

// client returns a copy of the base client whose HTTP requests carry ctx and record the
// status code: pusher-http-go takes no context and reports a status only inside its
// error text.
func (p *Pusher) client(ctx context.Context) (*pusher.Client, *call) {
	c := &call{ctx: ctx, next: p.transport}
	client := p.base
	client.HTTPClient = &http.Client{Transport: c, Timeout: p.timeout}
	return &client, c
}

// call is the transport of one Send or Probe.
type call struct {
	ctx    context.Context
	next   http.RoundTripper
	status int  // status of the answer; 0 when none came
	sent   bool // a request left the process
}

func (c *call) RoundTrip(req *http.Request) (*http.Response, error) {
	c.sent = true
	resp, err := c.next.RoundTrip(req.WithContext(c.ctx))
	if err == nil {
		c.status = resp.StatusCode
	}
	return resp, err
}

// Class is what a failed delivery calls for.
type Class string

// Failure classes of one Pusher call.
const (
	// Transient failures (network error, timeout, 5xx, 429) are retried later.
	Transient Class = "transient"
	// Permanent failures (400, 401, 403, 404, 413, or a request the client refused to
	// build) are dead-lettered at once.
	Permanent Class = "permanent"
)

// SendError is a failed Pusher call. Msg never holds the signed URL or the secret.
type SendError struct {
	Class  Class
	Status int // HTTP status, 0 when no answer came
	Msg    string
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("pusher answered %d: %s", e.Status, e.Msg)
	}
	return "pusher: " + e.Msg
}

// classify is the one place that turns the outcome of a Pusher call into a class.
func classify(c *call, err error) error {
	switch {
	case err == nil:
		return nil
	case c.status >= 200 && c.status < 300:
		// Pusher accepted the event; the client only failed to decode an empty or
		// non-JSON answer. Retrying would publish it twice.
		return nil
	case c.status == http.StatusTooManyRequests || c.status >= 500:
		return &SendError{Class: Transient, Status: c.status, Msg: http.StatusText(c.status)}
	case c.status != 0:
		return &SendError{Class: Permanent, Status: c.status, Msg: http.StatusText(c.status)}
	case !c.sent:
		// pusher-http-go refused to build the request (channel name, size): its message
		// names the problem and holds no secret.
		return &SendError{Class: Permanent, Msg: err.Error()}
	default:
		return &SendError{Class: Transient, Msg: networkReason(err)}
	}
}

// networkReason describes a transport failure without the signed URL that *url.Error
// carries in its text.
func networkReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return "network error: " + err.Error()
}
