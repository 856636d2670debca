package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// ProfileReconcileWorker works jobargs.ProfileReconcile.
type ProfileReconcileWorker struct {
	river.WorkerDefaults[jobargs.ProfileReconcile]
	service *service.Service
}

// Timeout: a blueprint of a whole fleet takes seconds, not minutes; the
// margin covers a loaded database.
func (w *ProfileReconcileWorker) Timeout(*river.Job[jobargs.ProfileReconcile]) time.Duration {
	return 5 * time.Minute
}

// Work reconciles the devices in the job's scope and records what it queued.
func (w *ProfileReconcileWorker) Work(ctx context.Context, job *river.Job[jobargs.ProfileReconcile]) error {
	res, err := w.service.ReconcileProfiles(ctx, "job:profile_reconcile",
		store.ProfileScope{BlueprintID: job.Args.BlueprintID, DeviceIDs: job.Args.Devices()})
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, res)
}
