package pusherlocal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestWaitForReturnsOnceEnoughEventsArrive(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type result struct {
		events []Event
		err    error
	}
	done := make(chan result, 1)
	go func() {
		events, err := f.srv.WaitFor(ctx, 3)
		done <- result{events, err}
	}()
	var senders sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		senders.Go(func() { errs <- f.client.Trigger(fmt.Sprintf("c%d", i), "e", "{}") })
	}

	got := <-done
	senders.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Trigger: %v", err)
		}
	}
	if got.err != nil {
		t.Fatalf("WaitFor: %v", got.err)
	}
	if len(got.events) < 3 {
		t.Errorf("WaitFor returned %d events, want at least 3", len(got.events))
	}
}

func TestWaitForStopsWithTheContext(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	events, err := f.srv.WaitFor(ctx, 1)

	if !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor error = %v, want context.Canceled", err)
	}
	if len(events) != 0 {
		t.Errorf("WaitFor events = %+v, want none", events)
	}
}

func TestEventsReturnsACopy(t *testing.T) {
	f := newFixture(t, Config{})
	if err := f.client.Trigger("c", "e", "original"); err != nil {
		t.Fatalf("Trigger: %v", err)
	}

	f.srv.Events()[0].Data = "changed"

	if got := f.srv.Events()[0].Data; got != "original" {
		t.Errorf("Data after changing a copy = %q, want %q", got, "original")
	}
}

func TestResetForgetsEventsAndCounters(t *testing.T) {
	f := newFixture(t, Config{})
	if err := f.client.Trigger("c", "e", "{}"); err != nil {
		t.Fatalf("Trigger: %v", err)
	}

	f.srv.Reset()

	if got := len(f.srv.Events()); got != 0 {
		t.Errorf("events after Reset = %d, want 0", got)
	}
	if got := f.srv.Requests(); got != 0 {
		t.Errorf("Requests() after Reset = %d, want 0", got)
	}
}

func TestOutPrintsOneLinePerAcceptedEvent(t *testing.T) {
	var out lockedBuffer
	f := newFixture(t, Config{Out: &out})

	err := f.client.TriggerMulti([]string{"a", "b"}, "sale:confirmed", `{"saleId":"s1"}`)
	if err != nil {
		t.Fatalf("TriggerMulti: %v", err)
	}
	f.srv.FailNext(1, 500)
	_ = f.client.Trigger("c", "e", "{}") // refused: must not be printed

	want := "pusher: a sale:confirmed {\"saleId\":\"s1\"}\n" +
		"pusher: b sale:confirmed {\"saleId\":\"s1\"}\n"
	if got := out.String(); got != want {
		t.Errorf("Out = %q, want %q", got, want)
	}
}
