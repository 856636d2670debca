package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

func startBroker(t *testing.T, s *store.Store) *jobs.Broker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := jobs.NewBroker(s.Pool(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	go b.Run(ctx)
	select {
	case <-b.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("broker never listened")
	}
	return b
}

func receive(t *testing.T, ch <-chan jobs.Event) jobs.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event arrived")
	}
	return jobs.Event{}
}

func TestEventsPublishedInATransactionArriveOnlyOnCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	b := startBroker(t, s)
	events, cancel := b.Subscribe(jobs.TopicCommand)
	defer cancel()
	others, cancelOthers := b.Subscribe(jobs.TopicJob)
	defer cancelOthers()

	rolledBack := s.InTx(ctx, func(tx pgx.Tx) error {
		if err := jobs.Publish(ctx, tx, jobs.Event{Topic: jobs.TopicCommand, Type: "queued", ID: 1}); err != nil {
			return err
		}
		return context.Canceled // roll back
	})
	if rolledBack == nil {
		t.Fatal("expected the rollback error")
	}
	must(t, s.InTx(ctx, func(tx pgx.Tx) error {
		return jobs.Publish(ctx, tx, jobs.Event{Topic: jobs.TopicCommand, Type: "queued", ID: 2})
	}))
	if ev := receive(t, events); ev.ID != 2 || ev.Type != "queued" {
		t.Fatalf("got %+v, want the committed event 2", ev)
	}
	select {
	case ev := <-others:
		t.Fatalf("a job subscriber received a command event: %+v", ev)
	default:
	}
}

func TestRiverOutcomesReachSubscribersOnOtherProcesses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := pgtest.New(t)
	// The listening "process" has its own broker; the working one only forwards.
	b := startBroker(t, s)
	events, stop := b.Subscribe(jobs.TopicJob)
	defer stop()

	workers := river.NewWorkers()
	must(t, jobs.Register(workers, jobs.Deps{Store: s, Logger: logger}))
	rc, err := jobs.NewClient(s.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	must(t, err)
	must(t, rc.Start(ctx))
	defer rc.Stop(context.Background())
	go jobs.ForwardRiverEvents(ctx, rc, s.Pool(), logger)

	// Stale token records go; fresh ones stay.
	_, err = s.Pool().Exec(ctx, `INSERT INTO api_tokens (jti, name, permissions, expires_at) VALUES
		('old', 'old', '{mdm.*}', now() - interval '90 days'), ('new', 'new', '{mdm.*}', now() + interval '1 day')`)
	must(t, err)
	res, err := rc.Insert(ctx, jobs.TokenCleanupArgs{}, nil)
	must(t, err)
	ev := receive(t, events)
	if ev.ID != res.Job.ID || ev.Type != "completed" || ev.Kind != "token_cleanup" {
		t.Fatalf("event %+v for job %d", ev, res.Job.ID)
	}
	var left []string
	rows, err := s.Pool().Query(ctx, "SELECT jti FROM api_tokens ORDER BY jti")
	must(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	if len(left) != 1 || left[0] != "new" {
		t.Fatalf("tokens left after cleanup: %v", left)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
