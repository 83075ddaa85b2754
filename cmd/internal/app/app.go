package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/salerelay/salerelay/cmd/internal/config"
	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
	"github.com/salerelay/salerelay/webhook"
	"github.com/salerelay/salerelay/webhook/publisher"
	"github.com/salerelay/salerelay/webhook/reconcile"
	"github.com/salerelay/salerelay/worker"
	"github.com/salerelay/salerelay/worker/dlq"
)

var errWorkerStopped = errors.New("worker pool is not consuming")

// Options adjusts an App beyond its configuration; tests and the dev command use them.
type Options struct {
	Addr    string               // listen address, default :PORT
	Streams events.StreamOptions // Replicas is taken from the configuration
	Logger  *slog.Logger         // default: built from LOG_LEVEL and LOG_FORMAT on stderr
	Sender  worker.Sender        // default: pusher-http-go with the PUSHER_* settings
}

// App is one running salerelay: HTTP endpoints, worker pool and their queue.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	broker   *broker.Broker
	queue    *events.Queue
	pool     *worker.Pool
	registry *prometheus.Registry
	server   *http.Server
	listener net.Listener
	runner   *reconcile.Runner // nil unless RECONCILE_INTERVAL > 0
}

// New connects to JetStream, creates the streams and prepares every part. Nothing is
// consumed or served until Run.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	a := &App{cfg: cfg, log: opts.Logger, registry: prometheus.NewRegistry()}
	a.registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	err := a.connect(ctx, opts.Streams)
	if err == nil {
		err = a.newPool(ctx, opts.Sender)
	}
	if err == nil && cfg.ReconcileInterval > 0 {
		err = a.newReconcile(ctx)
	}
	if err == nil {
		err = a.listen(opts.Addr)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// connect opens JetStream and makes sure the streams and buckets exist.
func (a *App) connect(ctx context.Context, streams events.StreamOptions) error {
	b, err := broker.Open(ctx, broker.Options{
		URL: a.cfg.NATSURL, Creds: a.cfg.NATSCreds, DataDir: a.cfg.DataDir,
		Listen: a.cfg.NATSListen, Logger: a.log,
	})
	if err != nil {
		return err
	}
	a.broker = b

	streams.Replicas = a.cfg.StreamReplicas
	if err := events.EnsureStreams(ctx, b.JS, streams); err != nil {
		return err
	}
	a.queue = events.NewQueue(b.JS)
	a.queue.Timeout = a.cfg.EnqueueTimeout
	return nil
}

// newPool prepares the worker pool; sender nil means the real Pusher.
func (a *App) newPool(ctx context.Context, sender worker.Sender) error {
	if sender == nil {
		sender = worker.NewPusher(worker.PusherConfig{
			AppID: a.cfg.PusherAppID, Key: a.cfg.PusherKey, Secret: a.cfg.PusherSecret,
			Cluster: a.cfg.PusherCluster, Host: a.cfg.PusherHost, TLS: a.cfg.PusherTLS,
			MaxConns: a.cfg.Workers,
		})
	}

	pool, err := worker.New(ctx, a.broker.JS, sender, worker.Config{
		Workers:       a.cfg.Workers,
		ChannelPrefix: a.cfg.PusherSaleChannel,
		MaxAttempts:   a.cfg.MaxAttempts,
		Backoff:       a.cfg.RetryBackoff,
	}, a.log, worker.NewMetrics(a.registry))
	if err != nil {
		return err
	}
	a.pool = pool
	worker.RegisterQueueMetrics(a.registry, a.broker.JS)
	return nil
}

// newReconcile prepares the periodic scan of RECONCILE_INTERVAL.
func (a *App) newReconcile(ctx context.Context) error {
	scanner, err := NewScanner(a.cfg, a.queue, a.pool.Ledger(), a.log, a.registry)
	if err != nil {
		return err
	}
	a.runner, err = reconcile.NewRunner(ctx, scanner, a.broker.JS, reconcile.RunnerConfig{})
	if err != nil {
		return fmt.Errorf("reconcile runner: %w", err)
	}
	return nil
}

// listen binds the HTTP listener (default :PORT) and prepares the server.
func (a *App) listen(addr string) error {
	if addr == "" {
		addr = ":" + strconv.Itoa(a.cfg.Port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	a.listener = ln
	a.server = &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return nil
}

// Addr is the address the HTTP listener is bound to.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Broker is the app's JetStream connection.
func (a *App) Broker() *broker.Broker { return a.broker }

// routes is the one HTTP listener's table (SPEC §4).
func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	h := health{app: a}
	mux.HandleFunc("GET /health", h.legacy)
	mux.HandleFunc("GET /healthz", h.alive)
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))

	if a.cfg.WebhookURL != "" {
		mux.Handle("/webhooks/appwrite", webhook.New(webhook.Config{
			URL: a.cfg.WebhookURL, SignatureKey: a.cfg.WebhookSignatureKey,
			User: a.cfg.WebhookUser, Password: a.cfg.WebhookPassword,
			DatabaseID: a.cfg.DatabaseID, CollectionID: a.cfg.SalesCollectionID,
			Mapping: a.cfg.Mapping(), MaxBodyBytes: a.cfg.MaxBodyBytes,
			Timeout: a.cfg.EnqueueTimeout,
		}, a.queue, a.log, webhook.NewMetrics(a.registry)))
	}

	mux.Handle(publisher.Path, publisher.New(publisher.Config{
		APIKey:        a.cfg.PublisherAPIKey,
		AllowOrigins:  a.cfg.AllowOrigins(),
		ChannelPrefix: a.cfg.PusherSaleChannel,
		MaxBodyBytes:  a.cfg.MaxBodyBytes,
		Timeout:       a.cfg.EnqueueTimeout,
	}, a.queue, a.log, a.registry))
	mux.Handle("/admin/", dlq.NewAdminHandler(dlq.NewStore(a.broker.JS), a.cfg.AdminToken, a.log))
	return mux
}

// Run serves HTTP and delivers until ctx ends, then stops in order: no new requests,
// in-flight deliveries finished or returned to the queue, connection closed.
func (a *App) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := a.server.Serve(a.listener); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("http server: %w", err)
			cancel()
		}
	})

	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { _ = a.pool.Run(poolCtx) })
	if a.runner != nil {
		wg.Go(func() {
			if err := a.runner.Run(runCtx, a.cfg.ReconcileInterval); err != nil &&
				!errors.Is(err, context.Canceled) {
				a.log.Error("periodic reconcile stopped", "err", err)
			}
		})
	}

	a.log.Info("salerelay serving", "addr", a.Addr(), "nats", a.broker.ClientURL(),
		"embedded_nats", a.broker.Embedded(), "workers", a.cfg.Workers)
	<-runCtx.Done()
	a.log.Info("stopping: no new requests, finishing deliveries")

	// Intake and delivery stop side by side, so the steps' limits (5 s for requests,
	// the pool's 20 s, 5 s to close the connection) stay inside the 30 s a stop may take.
	stopPool()
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := a.server.Shutdown(shutdownCtx); err != nil {
		a.log.Warn("http shutdown", "err", err)
	}
	wg.Wait()
	a.Close()
	a.log.Info("stopped")

	select {
	case err := <-serveErr:
		return err
	default:
		return nil
	}
}

// Close releases the JetStream connection and the embedded server.
func (a *App) Close() {
	if a.broker != nil {
		a.broker.Close()
		a.broker = nil
	}
}
