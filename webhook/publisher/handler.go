package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salerelay/salerelay/events"
)

// Path is where the old publisher's endpoint is served.
const Path = "/sale-verification/publish"

// Config is what the endpoint checks and answers with. Zero values take the defaults noted
// on each field.
type Config struct {
	// APIKey is PUBLISHER_API_KEY, expected as "Authorization: Bearer <key>". Empty
	// disables the endpoint: every request is answered 404, as SPEC §4 asks.
	APIKey string

	// AllowOrigins are the ALLOW_ORIGIN entries (see [ParseOrigins]). Empty or "*" allows
	// every origin.
	AllowOrigins []string

	// ChannelPrefix is PUSHER_SALE_CHANNEL, default sale-verification-. It only shapes the
	// answer; the worker builds the real channel from its own setting.
	ChannelPrefix string

	// MaxBodyBytes caps the request body, default 1 MiB; a larger body gets 413.
	MaxBodyBytes int64

	// Timeout bounds the enqueue, default 10 s; past it the answer is 503 and the app may
	// try again.
	Timeout time.Duration
}

// Defaults applied by [New].
const (
	DefaultChannelPrefix = "sale-verification-"
	DefaultMaxBodyBytes  = 1 << 20
	DefaultTimeout       = 10 * time.Second
)

// Handler serves POST /sale-verification/publish. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	keyHash [sha256.Size]byte
	queue   events.Enqueuer
	log     *slog.Logger
	metrics *metrics
	serve   http.Handler

	// now is the receive clock; tests replace it.
	now func() time.Time
}

// New returns the endpoint, storing decisions through queue. log nil means slog.Default();
// the endpoint's counter is registered on reg, and nil reg registers nothing. New panics
// if reg already holds a different collector of the same name.
func New(cfg Config, queue events.Enqueuer, log *slog.Logger, reg prometheus.Registerer) *Handler {
	if cfg.ChannelPrefix == "" {
		cfg.ChannelPrefix = DefaultChannelPrefix
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.Default()
	}

	h := &Handler{
		cfg: cfg,
		// Keys are compared as hashes so that the comparison takes the same time whatever
		// the length of the key sent.
		keyHash: sha256.Sum256([]byte(cfg.APIKey)),
		queue:   queue,
		log:     log,
		metrics: newMetrics(reg),
		now:     time.Now,
	}
	h.serve = NewCORS(cfg.AllowOrigins).Wrap(http.HandlerFunc(h.publish))
	return h
}

// Enabled reports whether an API key is set. A disabled endpoint answers 404.
func (h *Handler) Enabled() bool { return h.cfg.APIKey != "" }

// ServeHTTP answers preflight requests, authenticates the app, validates the decision and
// stores it. It answers 200 only once JetStream has stored the decision.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.Enabled() {
		http.NotFound(w, r)
		return
	}
	h.serve.ServeHTTP(w, r)
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		h.refuse(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	received := h.now()

	if !h.authorized(r) {
		h.log.Warn("publisher request unauthorized", "source", events.SourcePublisher)
		h.metrics.requests.WithLabelValues(outcomeUnauthorized).Inc()
		writeJSON(w, http.StatusUnauthorized, errorAnswer{Error: "Unauthorized"})
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			h.refuse(w, http.StatusRequestEntityTooLarge, "Request body too large")
			return
		}
		h.refuse(w, http.StatusBadRequest, "cannot read body")
		return
	}

	d, err := parseRequest(body)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	d.Timestamp = received.UnixMilli()
	d.ReceivedAt = received.UnixMilli()
	d.Source = events.SourcePublisher

	// Unlike a webhook, the app waits for the answer: tell it now that Pusher would
	// refuse this event (a userId that is no valid channel name, a payload over 10 KB)
	// rather than answer 200 and dead-letter it.
	if _, _, _, err := d.Event(h.cfg.ChannelPrefix); err != nil {
		h.refuse(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(),
			events.ErrInvalid.Error()+": "))
		return
	}

	h.enqueue(r.Context(), w, d)
}

func (h *Handler) enqueue(ctx context.Context, w http.ResponseWriter, d events.SaleDecision) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()

	receipt, err := h.queue.Enqueue(ctx, d)
	if err != nil {
		h.log.Error("publisher decision not queued", "sale_id", d.SaleID,
			"decision", d.Decision, "source", d.Source, "err", err)
		h.metrics.requests.WithLabelValues(outcomeUnavailable).Inc()
		writeJSON(w, http.StatusServiceUnavailable,
			errorAnswer{Error: "Queue unavailable, try again"})
		return
	}

	h.log.Info("publisher decision queued", "sale_id", d.SaleID, "decision", d.Decision,
		"source", d.Source, "seq", receipt.Sequence, "duplicate", receipt.Duplicate)
	h.metrics.requests.WithLabelValues(outcomeQueued).Inc()
	writeJSON(w, http.StatusOK, publishAnswer{
		OK:        true,
		Channel:   d.Channel(h.cfg.ChannelPrefix),
		EventName: d.Decision.EventName(),
	})
}

// refuse answers a request that is wrong in itself (400, 405, 413).
func (h *Handler) refuse(w http.ResponseWriter, status int, reason string) {
	h.log.Warn("publisher request refused", "source", events.SourcePublisher,
		"status", status, "err", reason)
	h.metrics.requests.WithLabelValues(outcomeInvalid).Inc()
	writeJSON(w, status, errorAnswer{Error: reason})
}

// authorized checks "Authorization: Bearer <key>" in constant time.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sent := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return subtle.ConstantTimeCompare(sent[:], h.keyHash[:]) == 1
}

// publishAnswer is the old service's success answer, keys in its order.
type publishAnswer struct {
	OK        bool   `json:"ok"`
	Channel   string `json:"channel"`
	EventName string `json:"eventName"`
}

// errorAnswer is the old service's failure answer.
type errorAnswer struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// writeJSON writes body the way Express's res.json did: no HTML escaping, no trailing
// newline, charset in the content type.
func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body) // two flat structs of strings and bools always encode

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))) // client gone: nothing to do
}
