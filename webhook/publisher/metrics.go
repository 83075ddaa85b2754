package publisher

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one request, as counted by salerelay_publisher_requests_total.
const (
	outcomeQueued       = "queued"
	outcomeInvalid      = "invalid" // 400, 405 and 413
	outcomeUnauthorized = "unauthorized"
	outcomeUnavailable  = "unavailable"
)

type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salerelay_publisher_requests_total",
		Help: "Requests to the old publisher endpoint, by outcome: queued, invalid, " +
			"unauthorized, unavailable.",
	}, []string{"outcome"})
	m := &metrics{requests: register(reg, requests)}

	for _, outcome := range []string{outcomeQueued, outcomeInvalid, outcomeUnauthorized,
		outcomeUnavailable} {
		m.requests.WithLabelValues(outcome)
	}
	return m
}

// register adds c to reg, or returns the equal collector reg already holds, so that two
// handlers built on one registry share their series. nil reg registers nothing.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	panic(err) // a different collector under our name is a wiring mistake
}
