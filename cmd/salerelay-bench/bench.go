package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/salerelay/salerelay/webhook"
	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// bench runs every phase in order and returns what it measured. A report is returned
// also when a later phase failed, so the figures gathered so far are printed.
func bench(ctx context.Context, o options, log io.Writer) (*report, error) {
	dir, err := os.MkdirTemp("", "salerelay-bench-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	pusher := pusherlocal.New(pusherlocal.Config{
		AppID: benchAppID, Key: benchKey, Secret: benchSecret,
	})
	pusherHost, err := pusher.Start(o.pusherListen)
	if err != nil {
		return nil, fmt.Errorf("start pusher stand-in: %w", err)
	}
	defer pusher.Close()
	pusher.SetLatency(o.pusherLatency)

	t, err := startTarget(ctx, o, pusherHost, dir, log)
	if err != nil {
		return nil, err
	}
	rep := &report{opts: o, ready: t.ready, started: t.stop != nil}
	stopTarget := func() {
		if t.stop != nil {
			if err := t.stop(); err != nil {
				fmt.Fprintln(log, "stop salerelay:", err)
			}
			t.stop = nil
		}
	}
	defer stopTarget()

	// Idle memory is read after a short quiet period: the settled idle state, not a start-up peak.
	time.Sleep(500 * time.Millisecond)
	rep.idleRSS, _ = memory(t.pid)

	before := sampleCPU(t.pid)
	if err := rep.runPhases(ctx, o, t.url, pusher, log); err != nil {
		return rep, err
	}
	rep.cpu = cpuBetween(before, sampleCPU(t.pid), runtime.NumCPU())
	_, rep.peakRSS = memory(t.pid)
	rep.metrics = scrapeMetrics(t.url)
	rep.duplicates = duplicates(pusher)
	stopTarget()
	if t.logs != "" {
		rep.warnings = countLines(t.logs)
	}

	fmt.Fprintf(log, "baseline: %d requests from %d clients to a trivial handler\n",
		o.webhooks, o.clients)
	baseURL, base, err := startBaseline()
	if err != nil {
		return rep, err
	}
	defer base.stop()
	rep.baseline = newClient(o.clients).flood(ctx, baseURL+"/webhooks/appwrite",
		rep.factory.make('z', o.webhooks))
	return rep, nil
}

// runPhases sends the ingest, paced and unpaced webhooks and waits for their events.
func (rep *report) runPhases(ctx context.Context, o options, base string,
	pusher *pusherlocal.Server, log io.Writer) error {
	rep.factory = salesFactory{runTag: randomTag(), signer: webhook.NewSigner(o.webhookURL,
		o.webhookKey)}
	url := base + "/webhooks/appwrite"
	c := newClient(o.clients)

	fmt.Fprintf(log, "ingest: %d webhooks from %d clients\n", o.webhooks, o.clients)
	rep.ingest = c.flood(ctx, url, rep.factory.make('a', o.webhooks))
	rep.drain = deliveries(ctx, pusher, rep.factory.prefix('a'), rep.ingest, o.timeout)

	n := int(float64(o.rate) * o.paced.Seconds())
	fmt.Fprintf(log, "paced: %d webhooks at %d/s\n", n, o.rate)
	rep.paced = c.pace(ctx, url, rep.factory.make('b', n), o.rate)
	rep.pacedE2E = deliveries(ctx, pusher, rep.factory.prefix('b'), rep.paced, o.timeout)

	fmt.Fprintf(log, "unpaced: %d webhooks from %d clients\n", o.burst, o.clients)
	rep.burst = c.flood(ctx, url, rep.factory.make('c', o.burst))
	rep.burstE2E = deliveries(ctx, pusher, rep.factory.prefix('c'), rep.burst, o.timeout)
	return ctx.Err()
}

// startTarget starts salerelay (as a child, or in process) or adopts a running one.
func startTarget(ctx context.Context, o options, pusherHost, dir string, log io.Writer) (
	*target, error) {
	switch {
	case o.url != "":
		fmt.Fprintf(log, "benching the salerelay at %s; Pusher stand-in on %s\n", o.url,
			pusherHost)
		return &target{url: strings.TrimRight(o.url, "/"), pid: o.pid}, nil
	case o.inProcess:
		return startInProcess(ctx, o, pusherHost, dir)
	}

	bin := o.salerelay
	if bin == "" {
		fmt.Fprintln(log, "building salerelay")
		var err error
		if bin, err = buildSalerelay(dir); err != nil {
			return nil, err
		}
	}
	return spawn(ctx, o, bin, pusherHost, dir)
}

// prefix is the start of every sale id of one phase.
func (f salesFactory) prefix(phase byte) string { return f.runTag + string(phase) }

// scrapeMetrics reads the plain samples of salerelay's /metrics, keyed by name and
// labels as written (salerelay_pusher_batch_size_sum).
func scrapeMetrics(base string) map[string]float64 {
	out := map[string]float64{}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()

	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// countLines counts the lines salerelay logged at LOG_LEVEL=warn: warnings and errors.
func countLines(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) == 0 {
		return 0
	}
	return strings.Count(string(raw), "\n")
}
