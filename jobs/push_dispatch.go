package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// PushDispatcher turns the pushes transactions asked for (store.WantPushes)
// into push jobs. Queueing a push job in every transaction that queues a
// command made a burst of one-device transactions (a check-in's follow-up,
// a command per device from a script) one River job each, fetched, worked
// and completed one by one; the dispatcher gathers what arrived in a short
// moment into jobs of up to jobargs.PushChunk devices.
//
// It runs in every process that works jobs. Dispatchers in several
// processes share the work: each claims rows the others have not locked.
type PushDispatcher struct {
	store  *store.Store
	jobs   *jobargs.Client
	logger *slog.Logger
	// Gather is how long a wake-up waits for more wanted pushes before it
	// claims them: a bound on the delay it adds to a push.
	Gather time.Duration
	// Poll is how often it looks for wanted pushes without a wake-up, for
	// those whose wake-up was lost (the event listener reconnecting).
	Poll time.Duration
}

// NewPushDispatcher returns a dispatcher with the default gather (50 ms) and poll (5 s).
func NewPushDispatcher(s *store.Store, client *jobargs.Client, logger *slog.Logger) *PushDispatcher {
	return &PushDispatcher{store: s, jobs: client, logger: logger, Gather: 50 * time.Millisecond, Poll: 5 * time.Second}
}

// Run dispatches whenever the broker says pushes are wanted, and every
// Poll, until ctx ends.
func (d *PushDispatcher) Run(ctx context.Context, broker *events.Broker) {
	wake, cancel := broker.Wake(store.TopicPushWanted)
	defer cancel()
	poll := time.NewTicker(d.Poll)
	defer poll.Stop()
	for {
		if _, err := d.Dispatch(ctx); err != nil && ctx.Err() == nil {
			d.logger.Warn("cannot queue wanted pushes; trying again at the next wake-up", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-wake:
			if sleepCtx(ctx, d.Gather) != nil {
				return
			}
		}
	}
}

// Dispatch queues every wanted push, jobargs.PushChunk devices per job and
// transaction, and returns how many devices it queued.
func (d *PushDispatcher) Dispatch(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := d.store.Tx(ctx, func(q *store.Queries) error {
			ids, err := q.ClaimWantedPushes(ctx, jobargs.PushChunk)
			if err != nil || len(ids) == 0 {
				return err
			}
			n = len(ids)
			return jobargs.EnqueuePushTx(ctx, d.jobs, q.PgxTx(), ids)
		})
		total += n
		if err != nil || n < jobargs.PushChunk {
			return total, err
		}
	}
}

// RunBesideWorkers runs, until ctx ends, what a process that works jobs runs
// beside River: its jobs' outcomes handed to publisher for every process's
// subscribers, and the push dispatcher.
func RunBesideWorkers(ctx context.Context, client *Client, s *store.Store, broker *events.Broker, publisher *events.Publisher,
	logger *slog.Logger) {
	go ForwardRiverEvents(ctx, client, publisher)
	NewPushDispatcher(s, client, logger).Run(ctx, broker)
}
