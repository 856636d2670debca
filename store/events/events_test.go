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

// A statement that publishes with NotifyExpr is heard as Publish is.
func TestNotifyExprPublishesWhatPublishDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	b := pgtest.StartBroker(t, s)
	commands, cancel := b.Subscribe(events.TopicCommand)
	defer cancel()

	want := events.Event{Topic: events.TopicCommand, Type: "Acknowledged", ID: 7, Kind: "Device'Information", DeviceID: 3}
	sql := "SELECT " + events.NotifyExpr(events.TopicCommand, "$1::text", "$2::bigint", "$3::text", "$4::bigint")
	_, err := s.Pool().Exec(ctx, sql, want.Type, want.ID, want.Kind, want.DeviceID)
	must(t, err)
	if got := pgtest.Receive(t, commands); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	must(t, events.Publish(ctx, s.Pool(), want))
	if got := pgtest.Receive(t, commands); got != want {
		t.Fatalf("Publish: got %+v, want %+v", got, want)
	}
}
