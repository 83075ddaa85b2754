// Package broker connects salerelay to NATS JetStream: to the servers named in NATS_URL,
// or to a JetStream server embedded in the process when no URL is set.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options says where JetStream is. With URL empty, an embedded server is started.
type Options struct {
	URL   string // comma list of nats:// URLs; empty starts the embedded server
	Creds string // credentials file for URL, optional

	DataDir string // embedded server's store, default ./data
	Listen  string // embedded server's client address, default 127.0.0.1:4222; port 0 picks one

	Name   string       // connection name shown by the server, default salerelay
	Logger *slog.Logger // connection events; default slog.Default()
}

// Broker is an open connection to JetStream, and the embedded server when there is one.
type Broker struct {
	Conn *nats.Conn
	JS   jetstream.JetStream

	server *server.Server
	closed chan struct{} // closed once the connection is closed
}

// Open connects to JetStream, starting the embedded server first when opts.URL is empty.
func Open(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Name == "" {
		opts.Name = "salerelay"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}

	b := &Broker{closed: make(chan struct{})}
	url := opts.URL
	if url == "" {
		srv, err := startEmbedded(opts.DataDir, opts.Listen)
		if err != nil {
			return nil, err
		}
		b.server = srv
		url = srv.ClientURL()
	}

	conn, err := nats.Connect(url, connectOptions(opts, b.closed)...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	b.Conn = conn

	js, err := jetstream.New(conn)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	b.JS = js
	return b, nil
}

// Embedded reports whether the broker runs its own server.
func (b *Broker) Embedded() bool { return b.server != nil }

// ClientURL is the address other processes (the CLI) use to reach the embedded server.
func (b *Broker) ClientURL() string {
	if b.server == nil {
		return b.Conn.ConnectedUrlRedacted()
	}
	return b.server.ClientURL()
}

// Ping checks that the server answers, for readiness checks.
func (b *Broker) Ping(ctx context.Context) error {
	if !b.Conn.IsConnected() {
		return errors.New("not connected to nats")
	}
	if _, err := b.JS.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account info: %w", err)
	}
	return nil
}

// Close drains the connection and stops the embedded server. Messages acknowledged by
// JetStream are on disk already; nothing is lost by closing.
func (b *Broker) Close() {
	if b.Conn != nil {
		// Drain flushes pending publishes and unsubscribes; Close follows on its own.
		if err := b.Conn.Drain(); err != nil {
			b.Conn.Close()
		}
		select {
		case <-b.closed:
		case <-time.After(5 * time.Second):
			b.Conn.Close()
		}
	}
	b.shutdownServer()
}

func (b *Broker) shutdownServer() {
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}

func connectOptions(opts Options, closed chan struct{}) []nats.Option {
	log := opts.Logger
	o := []nats.Option{
		nats.Name(opts.Name),
		// Keep trying forever: a NATS node restart must not end the process.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if opts.Creds != "" {
		o = append(o, nats.UserCredentials(opts.Creds))
	}
	return o
}

func startEmbedded(dataDir, listen string) (*server.Server, error) {
	if dataDir == "" {
		dataDir = "./data"
	}
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default 4222
	}

	srv, err := server.NewServer(&server.Options{
		ServerName: "salerelay-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dataDir,
		NoSigs:     true, // salerelay handles signals itself
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats on %s: not ready after 10s", listen)
	}
	return srv, nil
}
