package pusherlocal

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// faults holds the failures a test injects. The zero value injects nothing.
//
// A trigger request meets them in this order: RefuseConnections, latency, FailAll,
// FailNext, then (once the request is authenticated and valid) FailChannel. A request
// failed on purpose records nothing.
type faults struct {
	mu          sync.Mutex
	refuse      bool
	latency     time.Duration
	allStatus   int
	nextCount   int
	nextStatus  int
	channels    map[string]int
	answerEmpty bool
}

// FailNext makes the next n trigger requests answer status without recording
// anything. Probes are not affected. A later call replaces the earlier one.
func (s *Server) FailNext(n int, status int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.nextCount, s.faults.nextStatus = n, status
}

// FailAll makes every trigger request and every probe answer status until Heal, as
// during a Pusher outage.
func (s *Server) FailAll(status int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.allStatus = status
}

// FailChannel makes every trigger that includes channel answer status. A batch with one
// event on that channel fails as a whole, as Pusher rejects whole batches. Status 0
// removes the failure for that channel. Probes are not affected.
func (s *Server) FailChannel(channel string, status int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if status == 0 {
		delete(s.faults.channels, channel)
		return
	}
	if s.faults.channels == nil {
		s.faults.channels = make(map[string]int)
	}
	s.faults.channels[channel] = status
}

// Heal clears every injected failure: FailAll, FailNext, FailChannel and
// RefuseConnections. Latency and AcceptEmptyBody stay as set.
func (s *Server) Heal() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.refuse = false
	s.faults.allStatus = 0
	s.faults.nextCount, s.faults.nextStatus = 0, 0
	s.faults.channels = nil
}

// SetLatency makes each trigger request wait d before it is handled. A client that
// gives up meanwhile gets no answer and nothing is recorded. Zero removes the delay.
func (s *Server) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.latency = d
}

// RefuseConnections, while on, makes every request (triggers and probes) end with the
// connection closed and no answer, so the client sees a network error (in Go, a
// *url.Error wrapping io.EOF), never an HTTP status. This needs an HTTP/1 server that
// lets handlers hijack connections, as httptest.NewServer and [Server.Start] do; on
// HTTP/2 the stream is aborted instead.
func (s *Server) RefuseConnections(on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.refuse = on
}

// AcceptEmptyBody, while on, makes accepted triggers answer 200 with an empty body.
// The events are recorded, yet pusher-http-go returns a JSON decode error: the case
// where a retry would duplicate an event Pusher already has.
func (s *Server) AcceptEmptyBody(on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.answerEmpty = on
}

func (f *faults) refusing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refuse
}

func (f *faults) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

func (f *faults) emptyBody() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answerEmpty
}

// outageStatus returns the FailAll status, or 0.
func (f *faults) outageStatus() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.allStatus
}

// takeStatus returns the status a trigger must fail with before it is read, using up
// one FailNext, or 0 to let it through.
func (f *faults) takeStatus() int {
	f.mu.Lock()
	defer f.mu.Unlock()

	if f.allStatus != 0 {
		return f.allStatus
	}
	if f.nextCount > 0 {
		f.nextCount--
		return f.nextStatus
	}
	return 0
}

// channelRejection fails the whole request when one of its events goes to a failing
// channel.
func (f *faults) channelRejection(events []Event) *rejection {
	f.mu.Lock()
	defer f.mu.Unlock()

	for _, e := range events {
		if status, ok := f.channels[e.Channel]; ok {
			return injected(status)
		}
	}
	return nil
}

// refuse drops the connection without an answer, the way an unreachable or crashing
// Pusher edge looks to a client. The body is drained first so that the client reads a
// clean EOF rather than a connection reset while it is still writing.
func refuse(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBodyBytes))

	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// This writer cannot be hijacked (HTTP/2): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
