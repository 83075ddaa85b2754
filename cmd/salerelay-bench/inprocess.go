package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/app"
	"github.com/salerelay/salerelay/cmd/internal/config"
)

// startInProcess runs salerelay's App inside the bench, so that -cpuprofile sees the
// relay's own functions. Memory figures then describe the bench process as a whole.
func startInProcess(ctx context.Context, o options, pusherHost, dir string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	for k, v := range serveEnv(o, pusherHost, filepath.Join(dir, "data"), port, natsPort) {
		os.Setenv(k, v)
	}
	cfg, err := config.Load()
	if err == nil {
		err = cfg.Validate(config.Need{Pusher: true})
	}
	if err != nil {
		return nil, fmt.Errorf("salerelay configuration: %w", err)
	}

	logPath := filepath.Join(dir, "salerelay.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log file: %w", err)
	}

	start := time.Now()
	a, err := app.New(ctx, cfg, app.Options{
		Addr:   "127.0.0.1:" + strconv.Itoa(port),
		Logger: app.NewLogger(logFile, cfg.LogLevel, cfg.LogFormat),
	})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start salerelay in process: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		runErr = a.Run(runCtx)
		close(done)
	}()

	t := &target{url: "http://" + a.Addr(), pid: os.Getpid(), logs: logPath}
	t.stop = func() error {
		defer logFile.Close()
		cancel()
		select {
		case <-done:
			return runErr
		case <-time.After(35 * time.Second):
			return errors.New("salerelay did not stop within 35s")
		}
	}
	if err := waitReady(ctx, t.url, done); err != nil {
		_ = t.stop()
		return nil, err
	}
	t.ready = time.Since(start)
	return t, nil
}
