// Package brokertest gives tests a real JetStream server: embedded, in a temporary
// directory, with salerelay's streams and buckets created, and closed when the test ends.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
	"github.com/salerelay/salerelay/events/broker"
)

// Start opens an embedded JetStream server on a free loopback port and creates the
// streams with opts. It fails the test when the server cannot start.
func Start(t testing.TB, opts events.StreamOptions) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b, err := broker.Open(ctx, broker.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("open embedded broker: %v", err)
	}
	t.Cleanup(b.Close)

	if err := events.EnsureStreams(ctx, b.JS, opts); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}
	return b
}
