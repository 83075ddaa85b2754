package pusherlocal

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Event is one event accepted on one channel. A trigger to several channels records
// one Event per channel, in the order the channels were sent.
type Event struct {
	Channel    string
	Name       string
	Data       string
	ReceivedAt time.Time // Config.Clock when the request was accepted
}

// recorder keeps the accepted events in order and wakes whoever waits for them.
type recorder struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every change
	out     io.Writer
}

func newRecorder(out io.Writer) recorder {
	return recorder{changed: make(chan struct{}), out: out}
}

// Events returns a copy of the events accepted so far, oldest first.
func (s *Server) Events() []Event {
	s.recorder.mu.Lock()
	defer s.recorder.mu.Unlock()
	return slices.Clone(s.recorder.events)
}

// WaitFor blocks until at least n events have been accepted since New or the last
// Reset, then returns a copy of all of them. When ctx ends first it returns the events
// so far and an error wrapping ctx.Err().
func (s *Server) WaitFor(ctx context.Context, n int) ([]Event, error) {
	for {
		s.recorder.mu.Lock()
		events := slices.Clone(s.recorder.events)
		changed := s.recorder.changed
		s.recorder.mu.Unlock()

		if len(events) >= n {
			return events, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return events, fmt.Errorf("wait for %d pusher events, got %d: %w",
				n, len(events), ctx.Err())
		}
	}
}

// record appends events accepted together and prints them to Out, if set.
func (r *recorder) record(events []Event, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()

	for _, e := range events {
		e.ReceivedAt = at
		r.events = append(r.events, e)
		if r.out != nil {
			// Best effort: the line is a courtesy; the event counts as accepted anyway.
			_, _ = fmt.Fprintf(r.out, "pusher: %s %s %s\n", e.Channel, e.Name, e.Data)
		}
	}
	r.notify()
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()

	r.events = nil
	r.notify()
}

// notify wakes every waiter; the caller holds mu.
func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}
