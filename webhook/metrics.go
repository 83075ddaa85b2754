package webhook

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the webhook's Prometheus series.
type Metrics struct {
	webhooks       *prometheus.CounterVec
	enqueueSeconds prometheus.Histogram
}

// NewMetrics creates the series and registers them on reg; nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salerelay_webhooks_total",
			Help: "Appwrite webhooks received, by outcome: queued, ignored, unauthorized, " +
				"invalid, unavailable.",
		}, []string{"outcome"}),
		enqueueSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salerelay_webhook_enqueue_seconds",
			Help: "Time to store a webhook's decision in JetStream.",
			// 0.5 ms to 10 s: the enqueue timeout.
			Buckets: prometheus.ExponentialBucketsRange(0.0005, 10, 14),
		}),
	}
	for _, outcome := range []string{outcomeQueued, outcomeIgnored, outcomeUnauthorized,
		outcomeInvalid, outcomeUnavailable} {
		m.webhooks.WithLabelValues(outcome)
	}
	if reg != nil {
		reg.MustRegister(m.webhooks, m.enqueueSeconds)
	}
	return m
}
