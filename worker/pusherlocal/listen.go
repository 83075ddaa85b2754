package pusherlocal

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ErrAlreadyStarted is returned by Start when the Server is already listening.
var ErrAlreadyStarted = errors.New("pusherlocal: server already started")

// listener is a running http.Server and the result of its Serve loop.
type listener struct {
	http   *http.Server
	served chan error
}

// Start listens on addr (for example "127.0.0.1:0" for any free port) and serves in
// the background until Close. It returns the bound host:port, ready for
// pusher.Client.Host. A Server can be started once at a time.
func (s *Server) Start(addr string) (string, error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listener != nil {
		return "", ErrAlreadyStarted
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}

	l := &listener{
		http:   &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		served: make(chan error, 1),
	}
	go func() { l.served <- l.http.Serve(ln) }()
	s.listener = l
	return ln.Addr().String(), nil
}

// Close stops a Server started with Start: it closes the listener and every open
// connection at once, which also ends requests waiting on SetLatency. It returns
// nil when the Server was not started.
func (s *Server) Close() error {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listener == nil {
		return nil
	}

	l := s.listener
	s.listener = nil
	closeErr := l.http.Close()
	if err := <-l.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve pusherlocal: %w", err)
	}
	if closeErr != nil {
		return fmt.Errorf("close pusherlocal: %w", closeErr)
	}
	return nil
}
