package events_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

func TestEventsPublishedInATransactionArriveOnlyOnCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	b := pgtest.StartBroker(t, s)
	commands, cancel := b.Subscribe(events.TopicCommand)
	defer cancel()
	others, cancelOthers := b.Subscribe(events.TopicJob)
	defer cancelOthers()

	rolledBack := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if err := events.Publish(ctx, tx, events.Event{Topic: events.TopicCommand, Type: "queued", ID: 1}); err != nil {
			return err
		}
		return context.Canceled // roll back
	})
	if rolledBack == nil {
		t.Fatal("expected the rollback error")
	}
	must(t, pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		return events.Publish(ctx, tx, events.Event{Topic: events.TopicCommand, Type: "queued", ID: 2})
	}))
	if ev := pgtest.Receive(t, commands); ev.ID != 2 || ev.Type != "queued" {
		t.Fatalf("got %+v, want the committed event 2", ev)
	}
	select {
	case ev := <-others:
		t.Fatalf("a job subscriber received a command event: %+v", ev)
	default:
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A wake subscriber holds one signal for any number of events of its topic,
// none for other topics, and gets one when the listener (re)connects, since
// events sent while it was away are lost.
func TestWakeHoldsOneSignalForManyEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	b := events.NewBroker(s.Pool(), slog.New(slog.DiscardHandler))
	wake, cancel := b.Wake("work")
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Run(runCtx)
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up when the listener connected")
	}

	all, cancelAll := b.Subscribe("work")
	defer cancelAll()
	for i := range 5 {
		must(t, events.Publish(ctx, s.Pool(), events.Event{Topic: "work", ID: int64(i)}))
	}
	for range 5 {
		pgtest.Receive(t, all) // every event has been dispatched to wake too
	}
	<-wake
	select {
	case <-wake:
		t.Fatal("a second signal for one burst of events")
	default:
	}
	others, cancelOthers := b.Subscribe("other")
	defer cancelOthers()
	must(t, events.Publish(ctx, s.Pool(), events.Event{Topic: "other"}))
	pgtest.Receive(t, others)
	select {
	case <-wake:
		t.Fatal("an event of another topic signalled")
	default:
	}
}
