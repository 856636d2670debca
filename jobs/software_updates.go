package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// SoftwareUpdateSyncOutput is the job's output.
type SoftwareUpdateSyncOutput struct {
	store.SoftwareUpdateCounts
	Duration float64 `json:"duration_seconds"`
}

// SoftwareUpdateSyncWorker works jobargs.SoftwareUpdateSync.
type SoftwareUpdateSyncWorker struct {
	river.WorkerDefaults[jobargs.SoftwareUpdateSync]
	svc    *service.Service
	client *swupdate.Client
}

// Work fetches the catalog and replaces the stored one. A fetch that fails
// (network, HTTP error, truncated or malformed body) fails the job with the
// reason and leaves the stored catalog as it was; River retries it later.
func (w *SoftwareUpdateSyncWorker) Work(ctx context.Context, job *river.Job[jobargs.SoftwareUpdateSync]) error {
	if w.client == nil {
		return river.JobCancel(errors.New("no software update client configured in this process"))
	}
	start := time.Now()
	catalog, err := w.client.Fetch(ctx)
	if err != nil {
		return err
	}
	counts, err := w.svc.ReplaceSoftwareUpdateCatalog(ctx, "job:software_update_sync:"+strconv.FormatInt(job.ID, 10), catalog)
	if err != nil {
		return fmt.Errorf("software update sync: %w", err)
	}
	return river.RecordOutput(ctx, SoftwareUpdateSyncOutput{SoftwareUpdateCounts: counts, Duration: time.Since(start).Seconds()})
}

func registerSoftwareUpdates(workers *river.Workers, deps Deps) error {
	if err := river.AddWorkerSafely(workers, &SoftwareUpdateSyncWorker{svc: deps.Service, client: deps.SoftwareUpdates}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &SoftwareUpdateEnforceWorker{svc: deps.Service})
}

// softwareUpdatePeriodicJobs syncs the catalog on the schedule, from process
// start, so a new or restarted orchard has a catalog soon.
func softwareUpdatePeriodicJobs(s Schedule) []*river.PeriodicJob {
	if s.SoftwareUpdateSync <= 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(s.SoftwareUpdateSync),
		func() (river.JobArgs, *river.InsertOpts) { return jobargs.SoftwareUpdateSync{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// SoftwareUpdateEnforceWorker works jobargs.SoftwareUpdateEnforce.
type SoftwareUpdateEnforceWorker struct {
	river.WorkerDefaults[jobargs.SoftwareUpdateEnforce]
	svc *service.Service
}

// maxEnforceWait caps a wait for a coming deadline, so a changed catalog or
// clock is looked at again at least daily.
const maxEnforceWait = 24 * time.Hour

// Work delivers the enforcement to devices whose deadline has passed, and
// runs again at the next deadline still to come.
func (w *SoftwareUpdateEnforceWorker) Work(ctx context.Context, job *river.Job[jobargs.SoftwareUpdateEnforce]) error {
	actor := "job:software_update_enforce:" + strconv.FormatInt(job.ID, 10)
	now := time.Now()
	run, err := w.svc.EnforceSoftwareUpdate(ctx, actor, job.Args.BlueprintID, job.Args.Platform, now)
	if err != nil {
		return err
	}
	if run.NextRun != nil {
		// The deadline is a wall-clock time read as UTC (see EnforceSoftwareUpdate).
		wall := now.UTC().Truncate(time.Second)
		return river.JobSnooze(min(run.NextRun.Sub(wall)+time.Second, maxEnforceWait))
	}
	return river.RecordOutput(ctx, run)
}
