package jobs

import (
	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
)

// cancelUnlessTransient ends a DEP job for good when it cannot work until
// someone acts (no such server, no token uploaded, token expired); anything
// else (the database or a shutdown) is returned for River to retry.
func cancelUnlessTransient(err error) error {
	if service.DEPWaitsForPerson(err) {
		return river.JobCancel(err)
	}
	return err
}

// registerDEP adds the DEP workers.
func registerDEP(workers *river.Workers, deps Deps) error {
	if err := river.AddWorkerSafely(workers, &DEPSyncWorker{svc: deps.Service}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &DEPSyncAllWorker{store: deps.Store}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &DEPAssignDefaultWorker{svc: deps.Service, pause: deps.DEPAssignPause})
}

// depPeriodicJobs syncs every virtual server on the schedule, starting at
// process start so a restarted orchard catches up.
func depPeriodicJobs(s Schedule) []*river.PeriodicJob {
	if s.DEPSync <= 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(s.DEPSync),
		func() (river.JobArgs, *river.InsertOpts) { return jobargs.DEPSyncAll{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}
