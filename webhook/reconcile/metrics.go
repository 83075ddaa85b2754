package reconcile

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one periodic run, as counted by salerelay_reconcile_runs_total.
const (
	outcomeOK      = "ok"
	outcomeError   = "error"
	outcomeSkipped = "skipped" // another instance holds the lease
)

type metrics struct {
	runs    *prometheus.CounterVec
	scanned prometheus.Counter
	found   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salerelay_reconcile_runs_total",
			Help: "Periodic reconcile runs, by outcome: ok, error, skipped (another " +
				"instance holds the lease).",
		}, []string{"outcome"})),
		scanned: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salerelay_reconcile_scanned_total",
			Help: "Sale rows read from Appwrite by reconcile.",
		})),
		found: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salerelay_reconcile_found_total",
			Help: "Decisions reconcile enqueued that no webhook had delivered. A rising " +
				"count means Appwrite webhooks are being lost.",
		})),
	}
	for _, outcome := range []string{outcomeOK, outcomeError, outcomeSkipped} {
		m.runs.WithLabelValues(outcome)
	}
	return m
}

// register adds c to reg, or returns the equal collector reg already holds, so that a
// scanner rebuilt on the same registry keeps counting the same series. nil reg registers
// nothing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err) // a different collector under our name is a wiring mistake
}
