package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// client sends webhooks over one shared keep-alive transport, as a load balancer or a
// busy Appwrite would.
type client struct {
	http        *http.Client
	concurrency int
}

func newClient(concurrency int) *client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = concurrency
	t.MaxIdleConnsPerHost = concurrency // the default of 2 would reopen connections
	t.ForceAttemptHTTP2 = false
	return &client{
		http:        &http.Client{Transport: t, Timeout: 20 * time.Second},
		concurrency: concurrency,
	}
}

// phaseResult is what one load phase measured on the client side.
type phaseResult struct {
	sent     int
	queued   int           // answered 200 with "queued":true
	failed   int           // transport errors and answers other than 200
	elapsed  time.Duration // first send to last answer
	answer   []time.Duration
	sentAt   []time.Time // per webhook; zero when it was not sent
	okAt     []bool      // per webhook: answered 200 queued
	lateness time.Duration
}

func (r phaseResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.sent) / r.elapsed.Seconds()
}

// flood sends every webhook as fast as the client's concurrency allows.
func (c *client) flood(ctx context.Context, url string, sales []sale) phaseResult {
	res := newPhaseResult(len(sales))
	var next atomic.Int64
	answers := make([][]time.Duration, c.concurrency) // one list per sender: no locking

	start := time.Now()
	var wg sync.WaitGroup
	for w := range c.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(sales) {
					return
				}
				answers[w] = append(answers[w], c.sendOne(ctx, url, sales[i], i, &res))
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)

	for _, a := range answers {
		res.answer = append(res.answer, a...)
	}
	res.count()
	return res
}

// pace sends the webhooks at rate per second, each on its own goroutine (at most the
// client's concurrency in flight), and records how late the schedule ran.
func (c *client) pace(ctx context.Context, url string, sales []sale, rate int) phaseResult {
	res := newPhaseResult(len(sales))
	answers := make([]time.Duration, len(sales))
	slots := make(chan struct{}, c.concurrency)
	interval := time.Second / time.Duration(rate)

	start := time.Now()
	var wg sync.WaitGroup
	for i := range sales {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		res.lateness = max(res.lateness, time.Since(due))
		wg.Go(func() {
			defer func() { <-slots }()
			answers[i] = c.sendOne(ctx, url, sales[i], i, &res)
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)

	for i, a := range answers {
		if !res.sentAt[i].IsZero() {
			res.answer = append(res.answer, a)
		}
	}
	res.count()
	return res
}

func newPhaseResult(n int) phaseResult {
	return phaseResult{sentAt: make([]time.Time, n), okAt: make([]bool, n)}
}

// sendOne posts webhook i and records, in its own slots of res, when it left and
// whether it was queued. It returns the answer latency.
func (c *client) sendOne(ctx context.Context, url string, s sale, i int, res *phaseResult) time.Duration {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(s.body))
	if err != nil {
		return 0
	}
	req.Header = s.header()

	sent := time.Now()
	res.sentAt[i] = sent
	resp, err := c.http.Do(req)
	if err != nil {
		return time.Since(sent)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	took := time.Since(sent)

	res.okAt[i] = resp.StatusCode == http.StatusOK &&
		(bytes.Contains(answer, []byte(`"queued":true`)) || bytes.Equal(answer, baselineAnswer))
	return took
}

// count fills sent, queued and failed from the per-webhook slots.
func (r *phaseResult) count() {
	for i, at := range r.sentAt {
		if at.IsZero() {
			continue
		}
		r.sent++
		if r.okAt[i] {
			r.queued++
		} else {
			r.failed++
		}
	}
}
