package pusherlocal

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes the Pusher app the Server pretends to host.
type Config struct {
	// AppID is the app id expected in every path (/apps/{AppID}/...); others get 404.
	AppID string
	// Key is the expected auth_key; any other key gets 401.
	Key string
	// Secret signs requests (HMAC-SHA256). It is never written to any answer or line.
	Secret string
	// Clock gives the time that auth_timestamp is checked against and that stamps
	// recorded events. Default time.Now; tests move it to provoke clock-skew errors.
	Clock func() time.Time
	// Out, when set, receives one line per accepted event: channel, event name and
	// data. Writes are serialised; a write error is ignored (the line is only a
	// courtesy for `salerelay dev`). Default nil: print nothing.
	Out io.Writer
}

// Server is a Pusher-compatible HTTP API that records what it accepts.
//
// ServeHTTP is the core, so a Server can be mounted with httptest.NewServer or run by
// [Server.Start]. All methods are safe for concurrent use, also while requests are
// being served.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	faults   faults
	recorder recorder
	triggers atomic.Int64
	probes   atomic.Int64

	listenMu sync.Mutex
	listener *listener
}

// New returns a Server for the app described by cfg. It does not listen anywhere:
// mount it as an http.Handler or call [Server.Start].
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}

	s := &Server{cfg: cfg, recorder: newRecorder(cfg.Out)}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /apps/{appID}/events", s.handleTrigger(decodeTrigger))
	s.mux.HandleFunc("POST /apps/{appID}/batch_events", s.handleTrigger(decodeBatch))
	s.mux.HandleFunc("GET /apps/{appID}/channels", s.handleChannels)
	return s
}

// ServeHTTP answers one Pusher API request. Unknown paths get 404 and a wrong method
// 405, as from Pusher.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Requests returns how many trigger requests (events and batch_events) arrived since
// New or the last Reset, accepted, rejected and refused alike. Probes are not counted.
func (s *Server) Requests() int {
	return int(s.triggers.Load())
}

// Probes returns how many GET /channels requests arrived since New or the last Reset.
func (s *Server) Probes() int {
	return int(s.probes.Load())
}

// Reset forgets the recorded events and zeroes the request counters. Injected
// failures stay as they are; [Server.Heal] clears those.
func (s *Server) Reset() {
	s.recorder.reset()
	s.triggers.Store(0)
	s.probes.Store(0)
}

// handleTrigger serves events and batch_events, which differ only in their body.
func (s *Server) handleTrigger(decode decodeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.triggers.Add(1)
		if s.faults.refusing() {
			refuse(w, r)
			return
		}

		// The body is read before the latency so that net/http watches the
		// connection and cancels the context when the client hangs up.
		body, rej := readBody(w, r)
		if rej != nil {
			rej.write(w)
			return
		}
		if err := wait(r.Context(), s.faults.delay()); err != nil {
			return // the client gave up: nobody is left to answer
		}

		events, rej := s.accept(r, body, decode)
		if rej != nil {
			rej.write(w)
			return
		}

		s.recorder.record(events, s.cfg.Clock())
		s.answerTrigger(w)
	}
}

// accept decides on a trigger whose body has been read: the injected status, if
// any, then Pusher's checks, then the failing channels. It returns the events to record.
func (s *Server) accept(r *http.Request, body []byte, decode decodeFunc) ([]Event, *rejection) {
	if status := s.faults.takeStatus(); status != 0 {
		return nil, injected(status)
	}
	if rej := s.authorize(r, body); rej != nil {
		return nil, rej
	}

	events, rej := decode(body)
	if rej != nil {
		return nil, rej
	}
	if rej := s.faults.channelRejection(events); rej != nil {
		return nil, rej
	}
	return events, nil
}

// answerTrigger answers an accepted trigger.
func (s *Server) answerTrigger(w http.ResponseWriter) {
	if s.faults.emptyBody() {
		w.WriteHeader(http.StatusOK)
		return
	}
	// Pusher answers {} when no info was asked for; the client decodes it into an
	// empty channel list for both events and batch_events.
	writeJSON(w, `{}`)
}

// handleChannels serves the channel list, which is always empty. Only the faults that
// model an outage (FailAll, RefuseConnections) act on it.
func (s *Server) handleChannels(w http.ResponseWriter, r *http.Request) {
	s.probes.Add(1)
	if s.faults.refusing() {
		refuse(w, r)
		return
	}
	if status := s.faults.outageStatus(); status != 0 {
		injected(status).write(w)
		return
	}

	body, rej := readBody(w, r)
	if rej == nil {
		rej = s.authorize(r, body)
	}
	if rej != nil {
		rej.write(w)
		return
	}
	writeJSON(w, `{"channels":{}}`)
}

// wait blocks for d or until ctx ends, whichever comes first.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}

	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
}
