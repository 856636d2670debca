package events_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// What accumulates while a batch goes out is sent as one statement of up to
// a thousand events, in the order it was queued, and what is still queued
// when the publisher stops is sent before Run returns.
func TestPublisherSendsBatchesInOrderAndFlushesOnStop(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	sub, cancel := pgtest.StartBroker(t, s).Subscribe("batch")
	defer cancel()
	p := events.NewPublisher(s.Pool(), slog.New(slog.DiscardHandler))
	for i := range 250 {
		p.Send(events.Event{Topic: "batch", Type: "queued", ID: int64(i)})
	}
	traced, log := pgtest.WithStatementLog(context.Background())
	ctx, stop := context.WithCancel(traced)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	for i := range 250 {
		if ev := pgtest.Receive(t, sub); ev.ID != int64(i) {
			t.Fatalf("event %d arrived as number %d", ev.ID, i)
		}
	}
	if n := log.Len(); n != 1 {
		t.Fatalf("250 queued events took %d statements, want 1", n)
	}

	// Stopped with events queued: they go out before Run returns.
	stop()
	<-done
	late := events.NewPublisher(s.Pool(), slog.New(slog.DiscardHandler))
	late.Send(events.Event{Topic: "batch", Type: "late", ID: 1}, events.Event{Topic: "batch", Type: "late", ID: 2})
	stopped, cancelLate := context.WithCancel(context.Background())
	cancelLate()
	late.Run(stopped)
	for _, want := range []int64{1, 2} {
		if ev := pgtest.Receive(t, sub); ev.Type != "late" || ev.ID != want {
			t.Fatalf("after stop got %+v, want late event %d", ev, want)
		}
	}
}

// A publisher whose queue is full (its database gone) drops events rather
// than hold up the device requests that send them, and says so once a
// second, not once an event.
func TestPublisherDropsWhatItCannotQueueWithOneWarning(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	var logs strings.Builder
	p := events.NewPublisher(s.Pool(), slog.New(slog.NewTextHandler(&logs, nil)))
	for i := range 20_000 {
		p.Send(events.Event{Topic: "full", ID: int64(i)})
	}
	if n := strings.Count(logs.String(), "events dropped"); n != 1 {
		t.Fatalf("%d warnings for a burst of drops, want 1:\n%s", n, logs.String())
	}
}
