package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/store/events"
)

// ForwardRiverEvents publishes the outcome of every job this process works, so
// subscribers on any process see it, through the batching publisher (each
// outcome notifying on its own would queue behind every other notifying
// commit; see events.Publisher). It returns when ctx ends.
func ForwardRiverEvents(ctx context.Context, client *Client, publisher *events.Publisher) {
	riverEvents, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-riverEvents:
			if !ok {
				return
			}
			publisher.Send(events.Event{Topic: events.TopicJob, Type: eventType(ev), ID: ev.Job.ID, Kind: ev.Job.Kind})
		}
	}
}

func eventType(ev *river.Event) string {
	switch ev.Kind {
	case river.EventKindJobCompleted:
		return "completed"
	case river.EventKindJobCancelled:
		return "cancelled"
	case river.EventKindJobSnoozed:
		return "snoozed"
	case river.EventKindJobFailed:
		if ev.Job.State == rivertype.JobStateDiscarded {
			return "failed"
		}
		return "retrying"
	}
	return string(ev.Kind)
}

// Started tells subscribers a job began; workers call it first thing.
func Started(ctx context.Context, pool *pgxpool.Pool, job *rivertype.JobRow) error {
	return events.Publish(ctx, pool, events.Event{Topic: events.TopicJob, Type: "started", ID: job.ID, Kind: job.Kind})
}

// ReportProgress records a running job's progress as its output so far
// (River keeps it in the job's metadata, where GraphQL reads it; the output
// recorded at the end replaces it) and tells subscribers. Only a work
// function may call it: River finds its client in ctx.
func ReportProgress(ctx context.Context, pool *pgxpool.Pool, job *rivertype.JobRow, progress any) error {
	if err := river.RecordOutput(ctx, progress); err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	if _, err := client.JobUpdate(ctx, job.ID, &river.JobUpdateParams{}); err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	return events.Publish(ctx, pool, events.Event{Topic: events.TopicJob, Type: "progress", ID: job.ID, Kind: job.Kind})
}
