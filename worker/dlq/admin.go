package dlq

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// NewAdminHandler returns the admin API of the dead-letter stream (SPEC §4):
//
//	GET    /admin/dlq               records as a JSON array; query since=1h, class=permanent
//	GET    /admin/dlq/{id}          one record
//	POST   /admin/dlq/{id}/replay   requeue one record
//	POST   /admin/dlq/replay        requeue all records, or those matching since and class
//	DELETE /admin/dlq/{id}          delete one record
//
// Every request needs "Authorization: Bearer <token>"; a missing or wrong token gets 401.
// An empty token disables the API: every request gets 404. A malformed id or filter gets
// 400, an unknown id 404 and a store failure 503, each as {"ok":false,"error":"..."}.
// Mutations answer {"ok":true,...} and are logged to log (default slog.Default()), one line
// each, without the token. The handler is safe for concurrent use; mount it on the
// server's mux under "/admin/".
func NewAdminHandler(store *Store, token string, log *slog.Logger) http.Handler {
	if token == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "Not Found")
		})
	}
	if log == nil {
		log = slog.Default()
	}

	a := &admin{store: store, tokenHash: sha256.Sum256([]byte(token)), log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/dlq", a.list)
	mux.HandleFunc("GET /admin/dlq/{id}", a.show)
	mux.HandleFunc("POST /admin/dlq/{id}/replay", a.replay)
	mux.HandleFunc("POST /admin/dlq/replay", a.replayAll)
	mux.HandleFunc("DELETE /admin/dlq/{id}", a.delete)
	return a.authorize(mux)
}

// admin serves the routes of [NewAdminHandler].
type admin struct {
	store *Store
	// tokenHash is the SHA-256 of the token: comparing digests takes the same time
	// whatever the length of the token presented.
	tokenHash [sha256.Size]byte
	log       *slog.Logger
}

// authorize answers 401 unless the request carries the bearer token.
func (a *admin) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, presented, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(presented)))
		if !strings.EqualFold(scheme, "Bearer") ||
			subtle.ConstantTimeCompare(got[:], a.tokenHash[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="salerelay admin"`)
			writeError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	records, err := a.store.List(r.Context(), f)
	if err != nil {
		a.storeFailed(w, "list dead-letter records", err)
		return
	}
	writeJSON(w, http.StatusOK, records)
}

func (a *admin) show(w http.ResponseWriter, r *http.Request) {
	id, ok := recordID(w, r)
	if !ok {
		return
	}

	rec, err := a.store.Get(r.Context(), id)
	if err != nil {
		a.writeStoreError(w, id, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (a *admin) replay(w http.ResponseWriter, r *http.Request) {
	id, ok := recordID(w, r)
	if !ok {
		return
	}

	// Read first only to name the sale in the log line.
	rec, err := a.store.Get(r.Context(), id)
	if err == nil {
		err = a.store.Replay(r.Context(), id)
	}
	if err != nil {
		a.log.Warn("dead-letter replay failed", "dlq_id", id, "sale_id", rec.SaleID, "err", err)
		a.writeStoreError(w, id, err)
		return
	}

	a.log.Info("dead-letter record replayed", "dlq_id", id, "sale_id", rec.SaleID)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "id": id, "replayed": 1})
}

func (a *admin) replayAll(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	n, err := a.store.ReplayAll(r.Context(), f)
	if err != nil {
		a.log.Warn("dead-letter replay failed", "replayed", n, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"ok": false, "error": "replay dead-letter records: " + err.Error(), "replayed": n,
		})
		return
	}

	a.log.Info("dead-letter records replayed", "replayed", n,
		"class", string(f.Class), "since", r.URL.Query().Get("since"))
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "replayed": n})
}

func (a *admin) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := recordID(w, r)
	if !ok {
		return
	}

	rec, err := a.store.Get(r.Context(), id)
	if err == nil {
		err = a.store.Delete(r.Context(), id)
	}
	if err != nil {
		a.log.Warn("dead-letter delete failed", "dlq_id", id, "sale_id", rec.SaleID, "err", err)
		a.writeStoreError(w, id, err)
		return
	}

	a.log.Info("dead-letter record deleted", "dlq_id", id, "sale_id", rec.SaleID)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "id": id, "deleted": 1})
}

// writeStoreError answers 404 for a record that does not exist and 503 otherwise.
func (a *admin) writeStoreError(w http.ResponseWriter, id uint64, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("dead-letter record %d not found", id))
		return
	}
	a.storeFailed(w, fmt.Sprintf("dead-letter record %d", id), err)
}

// storeFailed answers 503: the stream is unreachable or refused the operation.
func (a *admin) storeFailed(w http.ResponseWriter, what string, err error) {
	writeError(w, http.StatusServiceUnavailable, what+": "+err.Error())
}

// recordID reads the {id} path value, answering 400 when it is not a record id.
func recordID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest,
			fmt.Sprintf("invalid record id %q: want a positive integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// parseFilter reads the since (a Go duration such as 1h) and class query parameters.
func parseFilter(r *http.Request) (Filter, error) {
	var f Filter
	q := r.URL.Query()

	if s := q.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return Filter{}, fmt.Errorf("invalid since %q: want a positive duration like 1h", s)
		}
		f.Since = time.Now().Add(-d)
	}

	switch c := Class(q.Get("class")); c {
	case "", Permanent, Exhausted, Poison:
		f.Class = c
	default:
		return Filter{}, fmt.Errorf("invalid class %q: want permanent, exhausted or poison", c)
	}
	return f, nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"ok": false, "error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing left to tell it
}
