package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of issue 6, on a 2-core machine.
const (
	targetIngestRate = 5000.0                 // webhooks answered per second
	targetIngestP99  = 50 * time.Millisecond  // answer latency
	targetE2ERate    = 2000.0                 // events delivered per second, Pusher at 50 ms
	targetPacedP99   = 150 * time.Millisecond // end to end at 200 events/s
	targetIdleKB     = 40 * 1024              // idle resident memory
	targetReady      = time.Second            // start to /readyz 200
)

// report is everything one run measured.
type report struct {
	opts    options
	factory salesFactory
	started bool // the bench started salerelay, so ready time is known

	ready            time.Duration
	idleRSS, peakRSS int64 // kB

	ingest, paced, burst, baseline phaseResult
	drain, pacedE2E, burstE2E      e2eResult

	cpu        cpuUse // during the ingest and end-to-end phases
	metrics    map[string]float64
	duplicates int // sale ids the stand-in received more than once
	warnings   int // lines salerelay logged at warn or error
}

func (r *report) print(w io.Writer) {
	o := r.opts
	workers := "WORKERS default"
	if o.workers > 0 {
		workers = fmt.Sprintf("WORKERS=%d", o.workers)
	}
	fmt.Fprintf(w, "\nsalerelay-bench: %d CPUs, %s/%s, %s; Pusher stand-in latency %s; %s; "+
		"%d clients\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		o.pusherLatency, workers, o.clients)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "webhook answers\tsent\t200 queued\tfailed\treq/s\tp50\tp90\tp99\tmax\t")
	r.answerRow(tw, "ingest (unpaced)", r.ingest)
	r.answerRow(tw, fmt.Sprintf("paced %d/s", o.rate), r.paced)
	r.answerRow(tw, "unpaced e2e phase", r.burst)
	r.answerRow(tw, "baseline: trivial handler", r.baseline)
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "end to end (sent → Pusher)\tqueued\tdelivered\tmissing\tevents/s\tp50\tp90\tp99\tmax\t")
	r.e2eRow(tw, "ingest drain", r.drain)
	r.e2eRow(tw, fmt.Sprintf("paced %d/s", o.rate), r.pacedE2E)
	r.e2eRow(tw, "unpaced", r.burstE2E)
	tw.Flush()

	fmt.Fprintln(w)
	if base := r.baseline.rate(); base > 0 {
		fmt.Fprintf(w, "webhook path: %.0f %% of the HTTP ceiling (%.0f of %.0f req/s)\n",
			100*r.ingest.rate()/base, r.ingest.rate(), base)
	}
	fmt.Fprintf(w, "memory: idle %s, peak %s (VmRSS, VmHWM%s); ready in %s\n",
		mb(r.idleRSS), mb(r.peakRSS), r.memoryNote(), r.readyText())
	if sum, n := r.metrics["salerelay_pusher_batch_size_sum"],
		r.metrics["salerelay_pusher_batch_size_count"]; n > 0 {
		fmt.Fprintf(w, "pusher calls: %.0f, %.1f events per call; retried %.0f, "+
			"dead-lettered %.0f\n", n, sum/n,
			r.metrics[`salerelay_delivery_attempts_total{outcome="retried"}`],
			r.metrics[`salerelay_delivery_attempts_total{outcome="dead_lettered"}`])
	}
	fmt.Fprintf(w, "duplicates at Pusher: %d; salerelay warnings and errors logged: %d\n",
		r.duplicates, r.warnings)
	fmt.Fprintf(w, "CPU during the relay phases (%.0f s): %s\n", r.cpu.wall, r.cpu)
	if r.cpu.available > 0 && r.cpu.background > 0.1*r.cpu.available {
		fmt.Fprintln(w, "NOTE: other processes used over 10 % of the CPU: figures are low; "+
			"rerun on a quiet machine")
	}
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target (issue 6, 2 cores)\tmeasured\tmet")
	for _, t := range r.targets() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.name, t.measured, yesNo(t.met, t.known))
	}
	tw.Flush()
}

func (r *report) answerRow(w io.Writer, name string, p phaseResult) {
	l := summarize(p.answer)
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", name, p.sent, p.queued,
		p.failed, p.rate(), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max))
}

func (r *report) e2eRow(w io.Writer, name string, e e2eResult) {
	l := e.latency
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", name, e.expected, e.delivered,
		e.expected-e.delivered, e.rate, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max))
}

func (r *report) memoryNote() string {
	switch {
	case r.opts.inProcess:
		return " of the bench process, salerelay in process"
	case r.idleRSS == 0:
		return "; unknown without -pid"
	}
	return " of salerelay serve"
}

func (r *report) readyText() string {
	if !r.started {
		return "- (already running)"
	}
	return ms(r.ready)
}

type targetCheck struct {
	name, measured string
	met, known     bool
}

func (r *report) targets() []targetCheck {
	ingest := summarize(r.ingest.answer)
	return []targetCheck{
		{"ingest ≥ 5000 webhooks/s", fmt.Sprintf("%.0f/s", r.ingest.rate()),
			r.ingest.rate() >= targetIngestRate, true},
		{"ingest answer p99 < 50 ms", ms(ingest.p99), ingest.p99 < targetIngestP99, true},
		{fmt.Sprintf("≥ 2000 events/s end to end (Pusher %s)", r.opts.pusherLatency),
			fmt.Sprintf("%.0f/s", r.burstE2E.rate), r.burstE2E.rate >= targetE2ERate, true},
		{fmt.Sprintf("end-to-end p99 < 150 ms at %d/s", r.opts.rate), ms(r.pacedE2E.latency.p99),
			r.pacedE2E.delivered > 0 && r.pacedE2E.latency.p99 < targetPacedP99, true},
		{"idle memory < 40 MB", mb(r.idleRSS), r.idleRSS > 0 && r.idleRSS < targetIdleKB,
			r.idleRSS > 0 && !r.opts.inProcess},
		{"ready within 1 s", r.readyText(), r.ready < targetReady, r.started},
	}
}

// targetsMet reports whether every target that could be measured was met.
func (r *report) targetsMet() bool {
	for _, t := range r.targets() {
		if t.known && !t.met {
			return false
		}
	}
	return true
}

// problems names what makes the run itself wrong, as opposed to slow: refused or lost
// webhooks and duplicated events.
func (r *report) problems() string {
	var p []string
	for name, ph := range map[string]phaseResult{"ingest": r.ingest, "paced": r.paced,
		"unpaced": r.burst, "baseline": r.baseline} {
		if ph.failed > 0 {
			p = append(p, fmt.Sprintf("%s: %d webhooks not answered 200 queued", name, ph.failed))
		}
	}
	for name, e := range map[string]e2eResult{"ingest": r.drain, "paced": r.pacedE2E,
		"unpaced": r.burstE2E} {
		if e.delivered < e.expected {
			p = append(p, fmt.Sprintf("%s: %d queued webhooks not delivered within %s", name,
				e.expected-e.delivered, r.opts.timeout))
		}
	}
	if r.duplicates > 0 {
		p = append(p, fmt.Sprintf("%d sales delivered more than once", r.duplicates))
	}
	return strings.Join(p, "; ")
}

func yesNo(met, known bool) string {
	switch {
	case !known:
		return "n/a"
	case met:
		return "yes"
	}
	return "NO"
}
