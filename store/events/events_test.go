package events_test

import (
	"context"
	"testing"

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
