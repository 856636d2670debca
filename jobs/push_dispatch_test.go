package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// pushJobDevices lists the device ids of every push job, one slice per job
// in the order they were queued.
func (e *pushEnv) pushJobDevices() [][]int64 {
	e.t.Helper()
	rows, err := e.store.Pool().Query(context.Background(),
		`SELECT args FROM river_job WHERE kind = 'apns_push' ORDER BY id`)
	mustTB(e.t, err)
	all, err := pgx.CollectRows(rows, pgx.RowTo[jobargs.Push])
	mustTB(e.t, err)
	out := make([][]int64, len(all))
	for i, a := range all {
		out[i] = a.DeviceIDs
	}
	return out
}

// want records wanted pushes and, once they committed, wakes the
// dispatchers, as the service does.
func (e *pushEnv) want(ids ...int64) {
	e.t.Helper()
	ctx := context.Background()
	mustTB(e.t, e.store.Tx(ctx, func(q *store.Queries) error {
		_, err := q.WantPushes(ctx, ids)
		return err
	}))
	mustTB(e.t, events.Publish(ctx, e.store.Pool(), events.Event{Topic: store.TopicPushWanted, Type: "wanted"}))
}

// Fifty transactions that each want one device's push become one push job;
// a backlog bigger than a job fills jobs of jobargs.PushChunk devices.
func TestPushDispatcherGathersTransactionsIntoJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newPushEnv(t, jobs.PushConfig{Window: time.Minute}, 16)
	ids := env.addDevices(2*jobargs.PushChunk + 50)
	for _, id := range ids[:50] {
		env.want(id)
	}
	d := jobs.NewPushDispatcher(env.store, env.river, slog.New(slog.NewTextHandler(io.Discard, nil)))
	n, err := d.Dispatch(ctx)
	mustTB(t, err)
	if got := env.pushJobDevices(); n != 50 || len(got) != 1 || !slices.Equal(got[0], ids[:50]) {
		t.Fatalf("dispatched %d devices into jobs %v; want the 50 in one job", n, got)
	}
	env.settle(30 * time.Second)
	if got := len(env.pushesByToken()); got != 50 {
		t.Fatalf("%d devices pushed, want 50", got)
	}

	env.want(ids[50:]...)
	n, err = d.Dispatch(ctx)
	mustTB(t, err)
	jobs := env.pushJobDevices()[1:]
	if n != 2*jobargs.PushChunk || len(jobs) != 2 || len(jobs[0]) != jobargs.PushChunk || len(jobs[1]) != jobargs.PushChunk {
		t.Fatalf("dispatched %d devices into %d jobs; want two full jobs", n, len(jobs))
	}
	if n, err := d.Dispatch(ctx); err != nil || n != 0 || len(env.pushJobDevices()) != 3 {
		t.Fatalf("a dispatch with nothing wanted queued %d devices (%v)", n, err)
	}
}

// A running dispatcher pushes what a transaction wanted once it commits, and
// finds wanted pushes whose wake-up never came on its next poll.
func TestPushDispatcherRunsOnWakeUpAndPoll(t *testing.T) {
	t.Parallel()
	env := newPushEnv(t, jobs.PushConfig{Window: time.Minute}, 16)
	ids := env.addDevices(4)
	broker := pgtest.StartBroker(t, env.store)
	run := func(poll time.Duration) {
		d := jobs.NewPushDispatcher(env.store, env.river, slog.New(slog.NewTextHandler(io.Discard, nil)))
		d.Poll = poll
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); d.Run(ctx, broker) }()
		t.Cleanup(func() { cancel(); <-done })
	}

	run(time.Hour)
	env.want(ids[0])
	env.waitForPushes(1)
	// The dispatcher has dispatched once and waits: with an hour's poll, only
	// the commit's wake-up can bring the next push.
	env.want(ids[1])
	env.waitForPushes(2)

	// Rows written without a wake-up (as if the listener missed it) wait for
	// a poll. The first may be found by a new dispatcher's first look; the
	// one written after that push, only by a poll.
	run(50 * time.Millisecond)
	for i, id := range ids[2:] {
		_, err := env.store.Pool().Exec(context.Background(), "INSERT INTO apns_push_wanted (device_id) VALUES ($1)", id)
		mustTB(t, err)
		env.waitForPushes(3 + i)
	}
}

// waitForPushes waits until the mock APNs has pushes for n devices.
func (e *pushEnv) waitForPushes(n int) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(e.pushesByToken()) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d devices pushed after 30s, want %d", len(e.pushesByToken()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
