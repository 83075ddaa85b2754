package webhook

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/salerelay/salerelay/events"
)

// Config is what the webhook handler checks and filters by.
type Config struct {
	URL          string // APPWRITE_WEBHOOK_URL, exactly as configured in Appwrite
	SignatureKey string // APPWRITE_WEBHOOK_SIGNATURE_KEY
	User         string // APPWRITE_WEBHOOK_USER; with Password, Basic auth is required too
	Password     string // APPWRITE_WEBHOOK_PASSWORD

	DatabaseID   string // only changes of this database; empty accepts any
	CollectionID string // only changes of this collection (table); empty accepts any

	Mapping      events.Mapping
	MaxBodyBytes int64         // default 1 MiB; larger bodies get 413
	Timeout      time.Duration // enqueue limit, default 10 s; past it the answer is 503
}

// Handler serves POST /webhooks/appwrite. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	signer  Signer
	queue   events.Enqueuer
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// New returns a webhook handler that stores decisions through queue. log may be nil
// (slog.Default) and metrics may be nil (not registered).
func New(cfg Config, queue events.Enqueuer, log *slog.Logger, metrics *Metrics) *Handler {
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Handler{
		cfg:     cfg,
		signer:  NewSigner(cfg.URL, cfg.SignatureKey),
		queue:   queue,
		log:     log,
		metrics: metrics,
		now:     time.Now,
	}
}

// Outcomes of one webhook, as counted by salerelay_webhooks_total.
const (
	outcomeQueued       = "queued"
	outcomeIgnored      = "ignored"
	outcomeUnauthorized = "unauthorized"
	outcomeInvalid      = "invalid"
	outcomeUnavailable  = "unavailable"
)

// ServeHTTP authenticates the webhook, decides what the change means and stores it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reply(w, http.StatusMethodNotAllowed, outcomeInvalid, errorBody("method not allowed"))
		return
	}
	received := h.now()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reply(w, http.StatusRequestEntityTooLarge, outcomeInvalid,
				errorBody("body over the size limit"))
			return
		}
		h.reply(w, http.StatusBadRequest, outcomeInvalid, errorBody("cannot read body"))
		return
	}

	if !h.authorized(r, body) {
		h.log.Warn("webhook refused", "reason", "bad signature or credentials",
			"webhook_id", r.Header.Get("X-Appwrite-Webhook-Id"))
		h.reply(w, http.StatusUnauthorized, outcomeUnauthorized, errorBody("Unauthorized"))
		return
	}

	doc, err := events.ParseDocument(body)
	if err != nil {
		h.reply(w, http.StatusBadRequest, outcomeInvalid, errorBody(err.Error()))
		return
	}

	decision, reason := h.decide(r.Header.Get("X-Appwrite-Webhook-Events"), doc, received)
	if reason != "" {
		h.ignore(w, doc.ID(), reason)
		return
	}
	h.enqueue(r.Context(), w, decision)
}

// decide returns the decision a change carries, or the reason it carries none.
func (h *Handler) decide(eventsHeader string, doc events.Document, received time.Time) (
	events.SaleDecision, string) {
	switch ParseAction(eventsHeader) {
	case ActionDelete:
		return events.SaleDecision{}, "delete"
	case ActionUnknown:
		return events.SaleDecision{}, "not a document change"
	}
	if h.cfg.DatabaseID != "" && doc.DatabaseID() != h.cfg.DatabaseID {
		return events.SaleDecision{}, "another database"
	}
	if h.cfg.CollectionID != "" && doc.CollectionID() != h.cfg.CollectionID {
		return events.SaleDecision{}, "another collection"
	}

	d, err := h.cfg.Mapping.Decide(doc, received)
	if err != nil {
		return events.SaleDecision{}, "undecided state"
	}
	d.Source = events.SourceWebhook
	d.ReceivedAt = received.UnixMilli()
	return d, ""
}

func (h *Handler) enqueue(ctx context.Context, w http.ResponseWriter, d events.SaleDecision) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()

	start := h.now()
	receipt, err := h.queue.Enqueue(ctx, d)
	h.metrics.enqueueSeconds.Observe(h.now().Sub(start).Seconds())
	if err != nil {
		h.log.Error("webhook not queued", "sale_id", d.SaleID, "decision", d.Decision,
			"err", err)
		h.reply(w, http.StatusServiceUnavailable, outcomeUnavailable,
			errorBody("queue unavailable, try again"))
		return
	}
	if receipt.Duplicate {
		h.ignore(w, d.SaleID, "duplicate")
		return
	}

	h.log.Info("webhook queued", "sale_id", d.SaleID, "decision", d.Decision,
		"seq", receipt.Sequence)
	h.reply(w, http.StatusOK, outcomeQueued, map[string]any{"ok": true, "queued": true})
}

func (h *Handler) ignore(w http.ResponseWriter, saleID, reason string) {
	h.log.Info("webhook ignored", "sale_id", saleID, "reason", reason)
	h.reply(w, http.StatusOK, outcomeIgnored,
		map[string]any{"ok": true, "queued": false, "ignored": reason})
}

func (h *Handler) authorized(r *http.Request, body []byte) bool {
	sigOK := h.signer.Verify(r.Header.Get("X-Appwrite-Webhook-Signature"), body) == nil
	if h.cfg.User == "" && h.cfg.Password == "" {
		return sigOK
	}

	user, pass, _ := r.BasicAuth()
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(h.cfg.User)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(h.cfg.Password)) == 1
	return sigOK && userOK && passOK
}

func (h *Handler) reply(w http.ResponseWriter, status int, outcome string, body any) {
	h.metrics.webhooks.WithLabelValues(outcome).Inc()
	WriteJSON(w, status, body)
}

func errorBody(msg string) map[string]any { return map[string]any{"ok": false, "error": msg} }

// WriteJSON writes body as a JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client went away; nothing to do
}
