// Package brokertest gives tests a real JetStream server: embedded, in a temporary
// directory, with salerelay's streams and buckets created, and closed when the test ends.
package brokertest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// Unreachable returns a connection to a JetStream server that has stopped. Like
// salerelay's own, the connection keeps trying to reconnect, so every call on it waits
// until its context ends: the shape of a queue outage.
func Unreachable(t testing.TB) *broker.Broker {
	t.Helper()
	server := Start(t, events.StreamOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := broker.Open(ctx, broker.Options{URL: server.ClientURL()})
	if err != nil {
		t.Fatalf("connect to the embedded server: %v", err)
	}
	t.Cleanup(client.Close)

	server.Close()
	return client
}

// Stored is one message read back from the work stream.
type Stored struct {
	Subject  string
	MsgID    string
	Decision events.SaleDecision
	Raw      []byte
}

// RawWork returns every message on the work stream as stored, oldest first.
func RawWork(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()

	stream, err := js.Stream(ctx, events.WorkStream)
	if err != nil {
		t.Fatalf("open work stream: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("work stream info: %v", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}

	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // acked and removed meanwhile
		}
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// WorkMessages returns every message on the work stream, oldest first, decoded. A message
// that is not a sale decision fails the test.
func WorkMessages(t testing.TB, js jetstream.JetStream) []Stored {
	t.Helper()
	var out []Stored
	for _, m := range RawWork(t, js) {
		var d events.SaleDecision
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("decode message %d %s: %v", m.Sequence, m.Data, err)
		}
		out = append(out, Stored{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader),
			Decision: d, Raw: m.Data})
	}
	return out
}
