package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salerelay/salerelay/events"
)

// RegisterQueueMetrics registers gauges read from JetStream at each scrape: messages
// waiting in the work consumer and records in the dead-letter stream. A gauge reads -1
// when JetStream does not answer within a second.
func RegisterQueueMetrics(reg prometheus.Registerer, js jetstream.JetStream) {
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "salerelay_queue_pending_messages",
		Help: "Decisions waiting for delivery: not yet delivered plus being delivered.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, events.WorkStream, events.WorkConsumer)
		if err != nil {
			return -1
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return -1
		}
		return float64(info.NumPending) + float64(info.NumAckPending)
	})
	deadLetters := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "salerelay_dlq_records",
		Help: "Records in the dead-letter stream, waiting for replay or purge.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		stream, err := js.Stream(ctx, events.DeadLetterStream)
		if err != nil {
			return -1
		}
		info, err := stream.Info(ctx)
		if err != nil {
			return -1
		}
		return float64(info.State.Msgs)
	})
	reg.MustRegister(pending, deadLetters)
}
