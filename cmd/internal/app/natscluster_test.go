package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/salerelay/salerelay/events"
)

// natsCluster is a JetStream cluster of in-process servers on loopback.
type natsCluster struct {
	mu      sync.Mutex
	servers map[string]*server.Server // by server name, n1..nN
	urls    []string
}

// startNATSCluster starts n routed JetStream nodes, each with its own store, and waits
// until they elect a JetStream meta leader.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}

	c := &natsCluster{servers: map[string]*server.Server{}}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		srv, err := server.NewServer(&server.Options{
			ServerName: name,
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster: server.ClusterOpts{
				Name: "salerelay-test", Host: "127.0.0.1", Port: ports[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs: true,
			NoLog:  true,
		})
		if err != nil {
			t.Fatalf("nats node %s: %v", name, err)
		}
		srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats node %s not ready after 10s", name)
		}
		c.servers[name] = srv
		c.urls = append(c.urls, srv.ClientURL())
	}
	t.Cleanup(c.shutdown)

	elected := poll(30*time.Second, func() bool {
		for _, srv := range c.running() {
			if srv.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	if !elected {
		t.Fatalf("no JetStream meta leader among %d nodes after 30s", n)
	}
	return c
}

// clientURLs is the NATS_URL of the cluster: every node's client address.
func (c *natsCluster) clientURLs() string { return strings.Join(c.urls, ",") }

// ensureStreams creates salerelay's streams, retrying while the cluster settles: a
// fresh meta leader may refuse the first requests.
func (c *natsCluster) ensureStreams(t *testing.T, opts events.StreamOptions) {
	t.Helper()
	js := c.connect(t)
	var err error
	created := poll(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = events.EnsureStreams(ctx, js, opts)
		return err == nil
	})
	if !created {
		t.Fatalf("create streams on the cluster: still failing after 30s: %v", err)
	}
}

// waitPulls polls until the work consumer holds n waiting pull requests: that many
// instances are ready to receive. When two instances create the fresh R3 consumer
// concurrently, one pull can be lost, and nats.go notices only when heartbeats are missing
// (twice the 15 s default): the test then fails here rather than measure that stall.
func (c *natsCluster) waitPulls(t *testing.T, n int) {
	t.Helper()
	js := c.connect(t)
	var waiting int
	ready := poll(10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, events.WorkStream, events.WorkConsumer)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		if err == nil {
			waiting = info.NumWaiting
		}
		return waiting >= n
	})
	if !ready {
		t.Fatalf("work consumer holds %d pull requests after 10s, want %d", waiting, n)
	}
}

// leaderOf returns the name of the node that leads stream.
func (c *natsCluster) leaderOf(t *testing.T, stream string) string {
	t.Helper()
	js := c.connect(t)
	var leader string
	found := poll(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	})
	if !found {
		t.Fatalf("stream %s has no leader after 20s", stream)
	}
	return leader
}

// leaders describes who leads the work stream's consumer and the ledger, for the log.
func (c *natsCluster) leaders(t *testing.T) string {
	t.Helper()
	js := c.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := []string{}
	if cons, err := js.Consumer(ctx, events.WorkStream, events.WorkConsumer); err == nil {
		if info, err := cons.Info(ctx); err == nil && info.Cluster != nil {
			out = append(out, "consumer on "+info.Cluster.Leader)
		}
	}
	if s, err := js.Stream(ctx, "KV_"+events.LedgerBucket); err == nil {
		if info, err := s.Info(ctx); err == nil && info.Cluster != nil {
			out = append(out, "ledger on "+info.Cluster.Leader)
		}
	}
	return strings.Join(out, ", ")
}

// connect opens a client connection to the cluster for the test's own queries.
func (c *natsCluster) connect(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.clientURLs(), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// stop shuts a node down at once, without handing its leaderships over first: to the
// rest of the cluster it is lost.
func (c *natsCluster) stop(name string) {
	c.mu.Lock()
	srv := c.servers[name]
	delete(c.servers, name)
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

func (c *natsCluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*server.Server, 0, len(c.servers))
	for _, srv := range c.servers {
		out = append(out, srv)
	}
	return out
}

func (c *natsCluster) shutdown() {
	for _, srv := range c.running() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}
