// Command salerelay-bench measures salerelay on one machine: how fast it answers signed
// Appwrite webhooks, how fast and how late their events reach a local Pusher stand-in,
// how much memory it takes and how soon it is ready, next to the HTTP ceiling of a
// trivial Go handler measured with the same client.
//
// By default it builds salerelay, starts `salerelay serve` with an embedded JetStream in
// a temporary directory and the stand-in (in the bench process) as its Pusher:
//
//	go run ./cmd/salerelay-bench                # what `make bench` does
//	go run ./cmd/salerelay-bench -h             # every flag
//
// Against a salerelay that is already running, point it at the bench's stand-in
// (PUSHER_HOST=127.0.0.1:6001, PUSHER_TLS=false, the bench-* Pusher credentials) and
// give the webhook URL and key it was configured with:
//
//	go run ./cmd/salerelay-bench -url http://127.0.0.1:3000 \
//		-pusher-listen 127.0.0.1:6001 -webhook-url ... -webhook-key ...
//
// All traffic stays on loopback. Every phase is bounded in count and in time.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	salerelay string // binary; empty builds one
	url       string // a running salerelay; empty starts one
	pid       int    // that running salerelay's process, for memory figures
	inProcess bool

	pusherListen  string
	pusherLatency time.Duration
	webhookURL    string
	webhookKey    string

	webhooks int           // ingest phase
	clients  int           // concurrent senders
	rate     int           // paced phase, webhooks per second
	paced    time.Duration // paced phase length
	burst    int           // unpaced end-to-end phase
	workers  int           // WORKERS of the started salerelay; 0 keeps its default
	timeout  time.Duration // longest wait for deliveries, per phase

	cpuProfile string
	check      bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("salerelay-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.salerelay, "salerelay", "", "salerelay binary to start (default: go build ./cmd/salerelay into a temporary directory)")
	fs.StringVar(&o.url, "url", "", "bench a running salerelay at this base URL instead of starting one")
	fs.IntVar(&o.pid, "pid", 0, "process id of the running salerelay given by -url, for memory figures")
	fs.BoolVar(&o.inProcess, "inprocess", false, "run salerelay inside the bench process (for -cpuprofile)")
	fs.StringVar(&o.pusherListen, "pusher-listen", "127.0.0.1:0", "address of the Pusher stand-in")
	fs.DurationVar(&o.pusherLatency, "pusher-latency", 50*time.Millisecond, "how long the Pusher stand-in takes to answer each call")
	fs.StringVar(&o.webhookURL, "webhook-url", "https://relay.example.com/webhooks/appwrite", "APPWRITE_WEBHOOK_URL the webhooks are signed for")
	fs.StringVar(&o.webhookKey, "webhook-key", "bench-signing-key", "APPWRITE_WEBHOOK_SIGNATURE_KEY the webhooks are signed with")
	fs.IntVar(&o.webhooks, "n", 20000, "webhooks in the ingest phase (and the baseline)")
	fs.IntVar(&o.clients, "c", 32, "concurrent clients sharing one keep-alive transport")
	fs.IntVar(&o.rate, "rate", 200, "webhooks per second in the paced end-to-end phase")
	fs.DurationVar(&o.paced, "paced", 10*time.Second, "length of the paced end-to-end phase")
	fs.IntVar(&o.burst, "burst", 10000, "webhooks in the unpaced end-to-end phase")
	fs.IntVar(&o.workers, "workers", 0, "WORKERS of the salerelay the bench starts (0: its default)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "longest wait for a phase's deliveries")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process here")
	fs.BoolVar(&o.check, "check", false, "exit 1 when a target is missed")
	if err := fs.Parse(args); err != nil {
		return o, err
	}

	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.webhooks < 1 || o.burst < 1 || o.clients < 1 || o.rate < 1:
		return o, errors.New("-n, -burst, -c and -rate must be at least 1")
	case o.paced < time.Second || o.timeout < time.Second:
		return o, errors.New("-paced and -timeout must be at least 1s")
	case o.webhooks > 1_000_000 || o.burst > 1_000_000 || o.clients > 4096:
		return o, errors.New("-n and -burst are capped at 1000000, -c at 4096")
	case o.url != "" && o.inProcess:
		return o, errors.New("-url and -inprocess exclude each other")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == baselineCommand {
		if err := serveBaseline(stdout); err != nil {
			fmt.Fprintln(stderr, "baseline server:", err)
			return 1
		}
		return 0
	}

	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "salerelay-bench:", err)
		return 2
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "salerelay-bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "salerelay-bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, o, stderr)
	if rep != nil {
		rep.print(stdout)
	}
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "salerelay-bench:", err)
		return 1
	case rep.problems() != "":
		fmt.Fprintln(stderr, "salerelay-bench:", rep.problems())
		return 1
	case o.check && !rep.targetsMet():
		fmt.Fprintln(stderr, "salerelay-bench: targets missed")
		return 1
	}
	return 0
}

// randomTag returns 6 hex digits that make this run's sale ids unique.
func randomTag() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}
