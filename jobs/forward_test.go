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
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

func TestRiverOutcomesReachSubscribersOnOtherProcesses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := pgtest.New(t)
	// The listening "process" has its own broker; the working one only
	// forwards, through its publisher.
	publisher := events.NewPublisher(s.Pool(), logger)
	go publisher.Run(ctx)
	b := pgtest.StartBroker(t, s)
	events, stop := b.Subscribe(events.TopicJob)
	defer stop()

	workers := river.NewWorkers()
	must(t, jobs.Register(workers, jobs.Deps{Store: s, Logger: logger}))
	rc, err := jobs.NewClient(s.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	must(t, err)
	must(t, rc.Start(ctx))
	defer rc.Stop(context.Background())
	go jobs.ForwardRiverEvents(ctx, rc, publisher)

	// Stale token records go; fresh ones stay.
	_, err = s.Pool().Exec(ctx, `INSERT INTO api_tokens (jti, name, permissions, expires_at) VALUES
		('old', 'old', '{mdm.*}', now() - interval '90 days'), ('new', 'new', '{mdm.*}', now() + interval '1 day')`)
	must(t, err)
	res, err := rc.Insert(ctx, jobargs.TokenCleanup{}, nil)
	must(t, err)
	ev := pgtest.Receive(t, events)
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
