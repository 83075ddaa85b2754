package worker

import (
	"testing"
	"time"

	"github.com/salerelay/salerelay/events"
)

// newTestLedger opens the ledger of a fresh embedded server with a one-minute lease and a
// clock the test moves by hand.
func newTestLedger(t *testing.T) (*Ledger, *time.Time) {
	t.Helper()
	e := newEnv(t)
	l, err := NewLedger(t.Context(), e.js, time.Minute)
	if err != nil {
		t.Fatalf("open ledger: %v", err)
	}
	now := time.Date(2025, 11, 3, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	return l, &now
}

// deliverThrough claims d and commits it, as a worker does after Pusher accepted it.
func deliverThrough(t *testing.T, l *Ledger, d events.SaleDecision) {
	t.Helper()
	v, c, err := l.Claim(t.Context(), d, d.MsgID(), "setup")
	if err != nil || v != Send {
		t.Fatalf("claim %s: verdict %v, err %v; want send", d.MsgID(), v, err)
	}
	if _, err := l.Commit(t.Context(), c); err != nil {
		t.Fatalf("commit %s: %v", d.MsgID(), err)
	}
}

// TestLedgerVerdicts checks what the ledger answers for a decision after a history of
// deliveries of the same sale: one event per decision, and the newest decision wins.
func TestLedgerVerdicts(t *testing.T) {
	confirmed := func(ts int64) events.SaleDecision { return decision("s1", events.Confirmed, ts) }
	rejected := func(ts int64) events.SaleDecision { return decision("s1", events.Rejected, ts) }

	tests := []struct {
		name    string
		history []events.SaleDecision
		next    events.SaleDecision
		want    Verdict
	}{
		{"first decision", nil, confirmed(100), Send},
		{"same decision again", []events.SaleDecision{confirmed(100)}, confirmed(100), Duplicate},
		{"later edit keeping the decision", []events.SaleDecision{confirmed(100)}, confirmed(200),
			Duplicate},
		{"older different decision", []events.SaleDecision{rejected(200)}, confirmed(100), Stale},
		{"different decision at the same time", []events.SaleDecision{rejected(100)},
			confirmed(100), Stale},
		{"newer different decision", []events.SaleDecision{confirmed(100)}, rejected(200), Send},
		{"decision changed back", []events.SaleDecision{confirmed(100), rejected(200)},
			confirmed(300), Send},
		{"replay of the first after a change", []events.SaleDecision{confirmed(100), rejected(200)},
			confirmed(100), Stale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLedger(t)
			for _, d := range tt.history {
				deliverThrough(t, l, d)
			}
			got, _, err := l.Claim(t.Context(), tt.next, tt.next.MsgID(), "worker")
			if err != nil {
				t.Fatalf("claim: %v", err)
			}
			if got != tt.want {
				t.Errorf("verdict %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLedgerLaterEditMakesOlderDecisionStale: confirmed@100 is delivered, an edit at 300
// keeps it confirmed (skipped as a duplicate), and a rejection made at 200 arrives last.
// The sale was confirmed as of 300, so the rejection is stale and must not be published.
func TestLedgerLaterEditMakesOlderDecisionStale(t *testing.T) {
	l, _ := newTestLedger(t)
	deliverThrough(t, l, decision("s1", events.Confirmed, 100))

	edit := decision("s1", events.Confirmed, 300)
	if v, _, err := l.Claim(t.Context(), edit, edit.MsgID(), "w1"); err != nil || v != Duplicate {
		t.Fatalf("edit: verdict %v, err %v; want duplicate", v, err)
	}
	late := decision("s1", events.Rejected, 200)
	if v, _, err := l.Claim(t.Context(), late, late.MsgID(), "w2"); err != nil || v != Stale {
		t.Fatalf("late rejection: verdict %v, err %v; want stale", v, err)
	}

	got, ok, err := l.LastDelivered(t.Context(), "s1")
	if err != nil || !ok {
		t.Fatalf("last delivered: ok %v, err %v", ok, err)
	}
	if got.Decision != events.Confirmed || got.Timestamp != 300 {
		t.Errorf("last delivered %s@%d, want confirmed@300", got.Decision, got.Timestamp)
	}
}

// TestLedgerLeases: a live claim makes other workers wait; an expired one (its holder
// died) is taken over.
func TestLedgerLeases(t *testing.T) {
	l, now := newTestLedger(t)
	d := decision("s1", events.Confirmed, 100)
	if v, _, err := l.Claim(t.Context(), d, d.MsgID(), "dead-worker"); err != nil || v != Send {
		t.Fatalf("first claim: verdict %v, err %v; want send", v, err)
	}

	tests := []struct {
		name    string
		advance time.Duration
		want    Verdict
	}{
		{"lease running", 30 * time.Second, Busy},
		{"lease expired", 31 * time.Second, Send},
	}
	for _, tt := range tests {
		*now = now.Add(tt.advance)
		got, _, err := l.Claim(t.Context(), d, d.MsgID(), "other-worker")
		if err != nil {
			t.Fatalf("%s: claim: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: verdict %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLedgerCommitAfterTakeover: a worker whose lease expired commits after another
// worker delivered a newer decision. The newer one stays recorded, and the late commit
// reports that its lease was lost.
func TestLedgerCommitAfterTakeover(t *testing.T) {
	l, now := newTestLedger(t)
	old := decision("s1", events.Confirmed, 100)
	_, slow, err := l.Claim(t.Context(), old, old.MsgID(), "slow")
	if err != nil {
		t.Fatalf("slow claim: %v", err)
	}

	*now = now.Add(2 * time.Minute)
	deliverThrough(t, l, decision("s1", events.Rejected, 200))

	held, err := l.Commit(t.Context(), slow)
	if err != nil {
		t.Fatalf("late commit: %v", err)
	}
	if held {
		t.Errorf("late commit reports the lease held, want lost")
	}
	got, _, _ := l.LastDelivered(t.Context(), "s1")
	if got.Decision != events.Rejected || got.Timestamp != 200 {
		t.Errorf("last delivered %s@%d, want rejected@200", got.Decision, got.Timestamp)
	}
}

// TestLedgerCountsAttemptsPerMessage: two messages of one sale failing in turn each keep
// their own count, so both reach the attempt limit.
func TestLedgerCountsAttemptsPerMessage(t *testing.T) {
	l, _ := newTestLedger(t)
	webhook := decision("s1", events.Confirmed, 100)
	publisher := decision("s1", events.Confirmed, 101)

	for round := 1; round <= 3; round++ {
		for _, d := range []events.SaleDecision{webhook, publisher} {
			v, c, err := l.Claim(t.Context(), d, d.MsgID(), d.MsgID())
			if err != nil || v != Send {
				t.Fatalf("round %d: claim %s: verdict %v, err %v", round, d.MsgID(), v, err)
			}
			if c.attempts != round-1 {
				t.Errorf("round %d: claim of %s says %d earlier attempts, want %d", round,
					d.MsgID(), c.attempts, round-1)
			}
			f, err := l.Release(t.Context(), c, "pusher answered 500", true)
			if err != nil {
				t.Fatalf("release: %v", err)
			}
			if f.Attempts != round {
				t.Errorf("round %d: %s has %d attempts, want %d", round, d.MsgID(),
					f.Attempts, round)
			}
		}
	}
}

// TestLedgerUncountedAttempts: attempts during an outage and abandoned claims leave the
// count alone, and a dead-lettered message's count is forgotten for its replay.
func TestLedgerUncountedAttempts(t *testing.T) {
	l, _ := newTestLedger(t)
	d := decision("s1", events.Confirmed, 100)
	claim := func() *Claim {
		t.Helper()
		v, c, err := l.Claim(t.Context(), d, d.MsgID(), "w")
		if err != nil || v != Send {
			t.Fatalf("claim: verdict %v, err %v", v, err)
		}
		return c
	}

	if _, err := l.Release(t.Context(), claim(), "timeout", true); err != nil {
		t.Fatal(err)
	}
	if f, err := l.Release(t.Context(), claim(), "timeout", false); err != nil || f.Attempts != 1 {
		t.Errorf("after an outage attempt: %d attempts (err %v), want 1", f.Attempts, err)
	}
	if err := l.Abandon(t.Context(), claim()); err != nil {
		t.Fatal(err)
	}
	if c := claim(); c.attempts != 1 {
		t.Errorf("after an abandoned claim: %d attempts, want 1", c.attempts)
	} else if err := l.Forget(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if c := claim(); c.attempts != 0 {
		t.Errorf("after Forget: %d attempts, want 0", c.attempts)
	}
}
