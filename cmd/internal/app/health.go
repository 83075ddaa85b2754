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

// readyTimeout bounds one readiness check, under the Deployment probe's 2 s timeout, so
// that a hanging JetStream gets a 503 with its reason rather than a probe timeout.
const readyTimeout = 1500 * time.Millisecond

// Readiness checks, named in a 503 answer's "check" field.
const (
	checkNATS    = "nats"    // connected, and JetStream answers
	checkStreams = "streams" // work and dead-letter streams and both buckets exist
	checkWorker  = "worker"  // the worker pool consumes the work stream
)

// legacy answers GET /health as the old publisher did.
func (h health) legacy(w http.ResponseWriter, _ *http.Request) {
	webhook.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "service": "salerelay"})
}

// alive answers GET /healthz: the process serves HTTP. It never looks at NATS, so a queue
// outage takes the instance out of the load balancer (/readyz) without restarting it.
func (h health) alive(w http.ResponseWriter, _ *http.Request) {
	webhook.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// ready answers GET /readyz: JetStream answers, the streams exist and the worker pool
// consumes. Otherwise 503 naming the failed check and its error, for example
// {"ok":false,"check":"nats","error":"not connected to nats"}.
func (h health) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()

	if check, err := h.check(ctx); err != nil {
		webhook.WriteJSON(w, http.StatusServiceUnavailable,
			map[string]any{"ok": false, "check": check, "error": err.Error()})
		return
	}
	webhook.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// check runs the readiness checks in order and returns the first that fails.
func (h health) check(ctx context.Context) (string, error) {
	if err := h.app.broker.Ping(ctx); err != nil {
		return checkNATS, err
	}
	if err := events.CheckStreams(ctx, h.app.broker.JS); err != nil {
		return checkStreams, err
	}
	if h.app.pool != nil && !h.app.pool.Running() {
		return checkWorker, errWorkerStopped
	}
	return "", nil
}
