package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/worker/dlq"
)

// Sender sends events to Pusher. [*Pusher] is the real one.
type Sender interface {
	Send(ctx context.Context, evs []Event) error
	Probe(ctx context.Context) error
}

// Config tunes a Pool. Zero values take the defaults noted on each field.
type Config struct {
	Workers       int    // concurrent Pusher calls per instance, default 16
	MaxBatch      int    // events per Pusher call, default and maximum 10
	ChannelPrefix string // default sale-verification-

	// MaxAttempts is how many failed attempts (outage time excluded) a decision gets
	// before it is dead-lettered, default 10.
	MaxAttempts int
	// Backoff is the retry schedule; the last delay repeats and each gets ±20 % jitter.
	// Default 1s, 5s, 30s, 2m, 5m.
	Backoff []time.Duration

	// AckWait is how long JetStream waits before redelivering a message a worker holds,
	// default 30 s: well above one Pusher call (10 s), extended with InProgress while a
	// worker waits out an outage, and short enough that what a crashed instance held
	// comes back soon.
	AckWait time.Duration
	// MaxAckPending caps unacknowledged messages across all instances, default 2000: each
	// instance holds up to Workers × MaxBatch × 3 (prefetched, handed to workers, sent).
	MaxAckPending int
	// StopTimeout bounds how long in-flight deliveries may finish after Run's context
	// ends, default 20 s, inside the 30 s a stop may take.
	StopTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.MaxBatch <= 0 || c.MaxBatch > 10 {
		c.MaxBatch = 10 // Pusher's limit for one batch call
	}
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = "sale-verification-"
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second,
			2 * time.Minute, 5 * time.Minute}
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 2000
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 20 * time.Second
	}
}

// Pool consumes the work stream and delivers decisions with Config.Workers goroutines.
type Pool struct {
	cfg     Config
	js      jetstream.JetStream
	sender  Sender
	ledger  *Ledger
	dlq     *dlq.Store
	log     *slog.Logger
	metrics *Metrics
	outage  *outage

	running atomic.Bool
	ids     atomic.Uint64 // owner ids for ledger claims
	prefix  string        // this pool's owner prefix
}

// New prepares a Pool. The streams and buckets must exist ([events.EnsureStreams]).
// metrics may be nil.
func New(ctx context.Context, js jetstream.JetStream, sender Sender, cfg Config,
	log *slog.Logger, metrics *Metrics) (*Pool, error) {
	cfg.setDefaults()
	if metrics == nil {
		metrics = NewMetrics(nil)
	}

	// The lease outlives the longest claim: one Pusher call plus its ledger writes.
	ledger, err := NewLedger(ctx, js, cfg.AckWait/2)
	if err != nil {
		return nil, err
	}

	p := &Pool{
		cfg:     cfg,
		js:      js,
		sender:  sender,
		ledger:  ledger,
		dlq:     dlq.NewStore(js),
		log:     log,
		metrics: metrics,
		prefix:  fmt.Sprintf("%x", time.Now().UnixNano()),
	}
	p.outage = newOutage(sender.Probe, log, func(open bool) {
		p.metrics.paused.Set(map[bool]float64{true: 1, false: 0}[open])
	})
	return p, nil
}

// Ledger returns the pool's ledger, which reconcile reads.
func (p *Pool) Ledger() *Ledger { return p.ledger }

// Running reports whether the pool is consuming: readiness depends on it.
func (p *Pool) Running() bool { return p.running.Load() }

// Run consumes until ctx ends, then lets in-flight deliveries finish (up to StopTimeout)
// and returns the messages it holds to the queue. It returns nil after a clean stop.
func (p *Pool) Run(ctx context.Context) error {
	// In-flight Pusher calls outlive ctx by up to StopTimeout, so a stop does not cut a
	// delivery in half.
	deliverCtx, cancelDeliver := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliver()
	stop := context.AfterFunc(ctx, func() {
		timer := time.AfterFunc(p.cfg.StopTimeout, cancelDeliver)
		context.AfterFunc(deliverCtx, func() { timer.Stop() })
	})
	defer stop()

	// Buffered to one full batch per worker: a worker that finishes a call finds a batch
	// ready, not one message (measured: 1.2 events per call unbuffered, 10 buffered).
	work := make(chan jetstream.Msg, p.cfg.Workers*p.cfg.MaxBatch)
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() { p.deliverLoop(ctx, deliverCtx, work) })
	}

	p.supervise(ctx, work)
	close(work)
	wg.Wait()
	return nil
}

// supervise keeps a consumer running until ctx ends: JetStream may delete or lose it
// (a node restart, an operator), and nothing else would restart consumption.
func (p *Pool) supervise(ctx context.Context, work chan<- jetstream.Msg) {
	const firstWait = 100 * time.Millisecond
	wait := firstWait
	for {
		err := p.consume(ctx, work)
		if p.running.Swap(false) {
			// It ran: a consumer lost after hours of work is recreated at once, not
			// after the delay grown by failures long ago.
			wait = firstWait
		}
		if ctx.Err() != nil {
			return
		}

		p.log.Warn("work consumer stopped, recreating", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// ConsumerConfig is the durable work consumer every instance shares.
func (p *Pool) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       events.WorkConsumer,
		Description:   "salerelay: delivers sale decisions to Pusher",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxAckPending: p.cfg.MaxAckPending,
		// Unlimited: the worker decides when to give up, and dead-letters with a reason.
		// A server-side limit would drop the message silently.
		MaxDeliver: -1,
	}
}

// consume runs one consumer subscription until it fails or ctx ends.
func (p *Pool) consume(ctx context.Context, work chan<- jetstream.Msg) error {
	cons, err := p.js.CreateOrUpdateConsumer(ctx, events.WorkStream, p.ConsumerConfig())
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}

	// Prefetch only what the workers can take at once: the ack timer runs from the
	// server's send, and a deep client buffer would expire while it waits.
	// Short pull requests with frequent heartbeats: a pull request parked on a node that
	// went away, or lost to a consumer recreated by another instance, is noticed within
	// seconds instead of the default 30 s expiry and two missed 15 s heartbeats.
	it, err := cons.Messages(
		jetstream.PullMaxMessages(p.cfg.Workers*p.cfg.MaxBatch),
		jetstream.PullExpiry(5*time.Second),
		jetstream.PullHeartbeat(time.Second),
		jetstream.WithMessagesErrOnMissingHeartbeat(true),
	)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer p.returnBuffered(it)

	p.running.Store(true)
	for {
		if err := p.outage.wait(ctx); err != nil {
			return err
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("next message: %w", err)
		}

		select {
		case work <- msg:
		case <-ctx.Done():
			p.nak(msg, 0)
			return ctx.Err()
		}
	}
}

// returnBuffered stops the subscription and hands back what it had prefetched, so that a
// restart does not wait for the ack timeout.
func (p *Pool) returnBuffered(it jetstream.MessagesContext) {
	it.Drain()
	for {
		msg, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			return
		}
		p.nak(msg, 0)
	}
}

// deliverLoop takes a message, adds whatever else is ready (up to MaxBatch) so that busy
// periods share Pusher calls, and delivers them. A lone message is sent at once.
func (p *Pool) deliverLoop(stop, ctx context.Context, work <-chan jetstream.Msg) {
	for msg := range work {
		batch := []jetstream.Msg{msg}
	fill:
		for len(batch) < p.cfg.MaxBatch {
			select {
			case m, ok := <-work:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		p.deliver(stop, ctx, batch)
	}
}

// minNakDelay is the shortest delay a message is handed back with. A plain Nak only
// queues the redelivery in the server's memory: when the embedded server stops right
// after (a graceful stop), the restarted server holds the message until its ack wait runs
// out. A Nak with a delay is written to the consumer's stored state, so the next start
// redelivers it at once.
const minNakDelay = time.Millisecond

// nak hands msg back to JetStream for redelivery after delay (at least minNakDelay).
func (p *Pool) nak(msg jetstream.Msg, delay time.Duration) {
	err := msg.NakWithDelay(max(delay, minNakDelay))
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		// The ack timeout redelivers it anyway.
		p.log.Warn("nak failed", "err", err)
	}
}
