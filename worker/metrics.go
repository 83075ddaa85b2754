package worker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the worker's Prometheus series.
type Metrics struct {
	deliveries *prometheus.CounterVec
	published  *prometheus.CounterVec
	duplicates prometheus.Counter
	stale      prometheus.Counter
	latency    *prometheus.HistogramVec
	batchSize  prometheus.Histogram
	paused     prometheus.Gauge
}

// Delivery outcomes counted by salerelay_delivery_attempts_total.
const (
	outcomeDelivered    = "delivered"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
)

// NewMetrics creates the series and registers them on reg; nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	// 5 ms to about 15 minutes: a healthy delivery takes tens of milliseconds, one that
	// waited through retries or an outage takes minutes.
	buckets := prometheus.ExponentialBucketsRange(0.005, 900, 20)
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salerelay_delivery_attempts_total",
			Help: "Delivery attempts by outcome: delivered, retried, dead_lettered.",
		}, []string{"outcome"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salerelay_events_published_total",
			Help: "Events Pusher accepted, by event name.",
		}, []string{"event"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salerelay_duplicates_suppressed_total",
			Help: "Decisions not sent because the ledger shows them delivered already.",
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salerelay_stale_decisions_total",
			Help: "Decisions dropped because a newer, different one was delivered already.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "salerelay_delivery_latency_seconds",
			Help: "Time until Pusher accepted an event, from=received (salerelay got the " +
				"change) or from=updated (the sale's $updatedAt).",
			Buckets: buckets,
		}, []string{"from"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "salerelay_pusher_batch_size",
			Help:    "Events per Pusher call.",
			Buckets: []float64{1, 2, 3, 5, 8, 10},
		}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salerelay_delivery_paused",
			Help: "1 while delivery is paused by a Pusher outage.",
		}),
	}
	for _, o := range []string{outcomeDelivered, outcomeRetried, outcomeDeadLettered} {
		m.deliveries.WithLabelValues(o)
	}
	for _, from := range []string{"received", "updated"} {
		m.latency.WithLabelValues(from)
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.published, m.duplicates, m.stale, m.latency,
			m.batchSize, m.paused)
	}
	return m
}
