package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// baselineAnswer is what the trivial handler answers to every request.
var baselineAnswer = []byte(`{"ok":true}`)

// baselineCommand is the hidden first argument that makes the bench binary serve the
// trivial handler; the bench starts itself with it so the ceiling is measured on a
// separate process, like salerelay.
const baselineCommand = "baseline-server"

// serveBaseline listens on a free loopback port, prints the address on stdout and
// answers 200 {"ok":true} to everything after reading the body, until SIGTERM.
func serveBaseline(stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(baselineAnswer)
		}),
	}
	fmt.Fprintln(stdout, ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startBaseline runs the trivial handler as a child process and returns its URL.
func startBaseline() (string, *child, error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.Command(self, baselineCommand)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("baseline stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start baseline server: %w", err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}

	addr, err := bufio.NewReader(out).ReadString('\n')
	go c.wait() // Wait closes the pipe, so it starts after the address was read
	if err != nil {
		_ = c.stop()
		return "", nil, fmt.Errorf("read baseline address: %w", err)
	}
	return "http://" + strings.TrimSpace(addr), c, nil
}
