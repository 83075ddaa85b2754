package app

import (
	"context"
	"net/http"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/webhook"
)

// health answers /health, /healthz and /readyz.
type health struct {
	app *App
}

// legacy answers GET /health as the old publisher did.
func (h health) legacy(w http.ResponseWriter, _ *http.Request) {
	webhook.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "service": "salerelay"})
}

// alive answers GET /healthz: the process serves HTTP.
func (h health) alive(w http.ResponseWriter, _ *http.Request) {
	webhook.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// ready answers GET /readyz: JetStream answers, the streams exist and the worker pool
// consumes. Otherwise 503 with the reason.
func (h health) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()

	if err := h.check(ctx); err != nil {
		webhook.WriteJSON(w, http.StatusServiceUnavailable,
			map[string]any{"ok": false, "error": err.Error()})
		return
	}
	webhook.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (h health) check(ctx context.Context) error {
	if err := h.app.broker.Ping(ctx); err != nil {
		return err
	}
	if err := events.CheckStreams(ctx, h.app.broker.JS); err != nil {
		return err
	}
	if h.app.pool != nil && !h.app.pool.Running() {
		return errWorkerStopped
	}
	return nil
}
