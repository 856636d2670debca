package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// A push job whose process was killed mid-run (state running, attempted long
// ago, nobody working it) goes back to the queue once it has outlived its
// timeout, instead of staying "running" for the better part of an hour.
func TestJobsOfAKilledProcessAreRescuedAfterTheirTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := pgtest.New(t)
	workers := river.NewWorkers()
	mustTB(t, jobs.Register(workers, jobs.Deps{Store: s, Logger: logger}))

	inserter, err := jobs.NewClient(s.Pool(), workers, jobs.Config{Logger: logger})
	mustTB(t, err)
	var jobID int64
	mustTB(t, pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		res, err := inserter.InsertTx(ctx, tx, jobargs.Push{DeviceIDs: []int64{1}}, nil)
		if err != nil {
			return err
		}
		jobID = res.Job.ID
		// What a process killed while working the job leaves behind. Only
		// the test writes River's table by hand: it plays the dead process.
		_, err = tx.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
			attempted_at = now() - $2::interval, attempted_by = '{dead-process}' WHERE id = $1`,
			jobID, (jobs.DefaultJobTimeout + time.Minute).String())
		return err
	}))

	worker, err := jobs.NewClient(s.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	mustTB(t, err)
	mustTB(t, worker.Start(ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = worker.Stop(stopCtx)
	})
	// The rescuer runs shortly after the client is elected leader.
	deadline := time.Now().Add(60 * time.Second)
	for {
		job, err := worker.JobGet(ctx, jobID)
		mustTB(t, err)
		if job.State != rivertype.JobStateRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still running a minute after its process died", jobID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
