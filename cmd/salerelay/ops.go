package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/salerelay/salerelay/cmd/internal/app"
	"github.com/salerelay/salerelay/cmd/internal/cli"
	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker"
	"github.com/salerelay/salerelay/worker/dlq"
)

// dlqCmd runs the dlq subcommands against the configured JetStream.
func dlqCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(stderr, config.Need{})
	if !ok {
		return exitUsage
	}
	log := app.NewLogger(stderr, "warn", "text")
	b, err := app.Connect(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "salerelay dlq:", err)
		return exitFailed
	}
	defer b.Close()

	return cli.DLQ(ctx, dlq.NewStore(b.JS), args, stdout, stderr)
}

// reconcileCmd scans Appwrite for decisions whose webhooks never arrived.
func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(stderr, config.Need{Reconcile: true})
	if !ok {
		return exitUsage
	}
	log := app.NewLogger(stderr, cfg.LogLevel, "text")
	b, err := app.Connect(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "salerelay reconcile:", err)
		return exitFailed
	}
	defer b.Close()

	ledger, err := worker.NewLedger(ctx, b.JS, time.Minute)
	if err != nil {
		fmt.Fprintln(stderr, "salerelay reconcile:", err)
		return exitFailed
	}
	scanner, err := app.NewScanner(cfg, events.NewQueue(b.JS), ledger, log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "salerelay reconcile:", err)
		return exitUsage
	}
	return cli.Reconcile(ctx, scanner, args, stdout, stderr)
}
