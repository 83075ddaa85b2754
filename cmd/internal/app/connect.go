package app

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/webhook/reconcile"
)

// Connect opens JetStream for the operator commands (dlq, reconcile). With NATS_URL set
// it connects there. Otherwise it reaches the embedded server of a running `salerelay
// serve` on NATS_LISTEN, and when none answers it opens DATA_DIR itself.
func Connect(ctx context.Context, cfg config.Config, log *slog.Logger) (*broker.Broker, error) {
	opts := broker.Options{URL: cfg.NATSURL, Creds: cfg.NATSCreds, Name: "salerelay-cli",
		Logger: log}
	if opts.URL == "" {
		if conn, err := net.DialTimeout("tcp", cfg.NATSListen, time.Second); err == nil {
			conn.Close()
			opts.URL = "nats://" + cfg.NATSListen
		} else {
			opts.DataDir, opts.Listen = cfg.DataDir, "127.0.0.1:0"
		}
	}

	b, err := broker.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := events.EnsureStreams(ctx, b.JS, events.StreamOptions{
		Replicas: cfg.StreamReplicas,
	}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// NewScanner builds the reconcile scanner from the APPWRITE_* settings.
func NewScanner(cfg config.Config, queue events.Enqueuer, lookup events.DeliveryLookup,
	log *slog.Logger, reg prometheus.Registerer) (*reconcile.Scanner, error) {
	return reconcile.NewScanner(reconcile.Config{
		Endpoint:   cfg.AppwriteEndpoint,
		ProjectID:  cfg.AppwriteProjectID,
		APIKey:     cfg.AppwriteAPIKey,
		DatabaseID: cfg.DatabaseID,
		TableID:    cfg.SalesCollectionID,
		Mapping:    cfg.Mapping(),
	}, queue, lookup, log, reg)
}
