package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ForwardRiverEvents publishes the outcome of every job this process works, so
// subscribers on any process see it. It returns when ctx ends.
func ForwardRiverEvents(ctx context.Context, client *Client, pool *pgxpool.Pool, logger *slog.Logger) {
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			out := Event{Topic: TopicJob, Type: eventType(ev), ID: ev.Job.ID, Kind: ev.Job.Kind}
			if err := Publish(ctx, pool, out); err != nil && ctx.Err() == nil {
				logger.Warn("could not publish job event", "job_id", ev.Job.ID, "err", err)
			}
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
	return Publish(ctx, pool, Event{Topic: TopicJob, Type: "started", ID: job.ID, Kind: job.Kind})
}

// ReportProgress records a running job's progress where GraphQL reads it
// (the job's metadata) and tells subscribers.
func ReportProgress(ctx context.Context, pool *pgxpool.Pool, job *rivertype.JobRow, progress any) error {
	data, err := json.Marshal(progress)
	if err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	_, err = pool.Exec(ctx, `UPDATE river_job SET metadata = jsonb_set(metadata, '{progress}', $2::jsonb)
		WHERE id = $1`, job.ID, string(data))
	if err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	return Publish(ctx, pool, Event{Topic: TopicJob, Type: "progress", ID: job.ID, Kind: job.Kind})
}
