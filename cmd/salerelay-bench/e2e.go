package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/salerelay/salerelay/worker/pusherlocal"
)

// e2eResult is what reached the Pusher stand-in for one phase.
type e2eResult struct {
	expected  int // webhooks answered 200 queued
	delivered int // of those, how many reached the stand-in
	latency   latencies
	rate      float64 // delivered per second, first send to last acceptance
}

// deliveries polls the stand-in until every queued webhook of the phase has arrived or
// timeout passes, and matches events to webhooks by saleId. Polling (not WaitFor, which
// copies every event on every change) keeps the bench's own CPU use low.
func deliveries(ctx context.Context, pusher *pusherlocal.Server, prefix string,
	res phaseResult, timeout time.Duration) e2eResult {
	out := e2eResult{}
	for _, ok := range res.okAt {
		if ok {
			out.expected++
		}
	}

	arrived := make([]time.Time, len(res.sentAt))
	seen := 0
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for out.delivered < out.expected {
		events := pusher.Events()
		for _, e := range events[min(seen, len(events)):] {
			i, ok := phaseIndex(e.Data, prefix, len(arrived))
			if ok && res.okAt[i] && arrived[i].IsZero() {
				arrived[i] = e.ReceivedAt
				out.delivered++
			}
		}
		seen = len(events)
		if out.delivered >= out.expected {
			break
		}
		select {
		case <-ctx.Done():
			return out.finish(res, arrived)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return out.finish(res, arrived)
}

func (out e2eResult) finish(res phaseResult, arrived []time.Time) e2eResult {
	var lat []time.Duration
	var first, last time.Time
	for i, at := range arrived {
		if at.IsZero() {
			continue
		}
		lat = append(lat, at.Sub(res.sentAt[i]))
		if first.IsZero() || res.sentAt[i].Before(first) {
			first = res.sentAt[i]
		}
		if at.After(last) {
			last = at
		}
	}
	out.latency = summarize(lat)
	if span := last.Sub(first); span > 0 {
		out.rate = float64(out.delivered) / span.Seconds()
	}
	return out
}

// phaseIndex reads the saleId of an event's payload and returns its index when it
// belongs to the phase whose ids start with prefix.
func phaseIndex(data, prefix string, n int) (int, bool) {
	var p struct {
		SaleID string `json:"saleId"`
	}
	if json.Unmarshal([]byte(data), &p) != nil || !strings.HasPrefix(p.SaleID, prefix) {
		return 0, false
	}
	i, err := strconv.ParseUint(p.SaleID[len(prefix):], 16, 64)
	if err != nil || i >= uint64(n) {
		return 0, false
	}
	return int(i), true
}

// duplicates counts sale ids the stand-in received more than once, over the whole run.
func duplicates(pusher *pusherlocal.Server) int {
	count := map[string]int{}
	dups := 0
	for _, e := range pusher.Events() {
		var p struct {
			SaleID string `json:"saleId"`
		}
		if json.Unmarshal([]byte(e.Data), &p) == nil {
			count[p.SaleID]++
			if count[p.SaleID] == 2 {
				dups++
			}
		}
	}
	return dups
}
