package jobs

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/store"
)

// Deps are what workers need. Features add their clients here.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	// DEP reaches Apple's DEP service; nil gives Apple's service with defaults.
	DEP *DEP
}

// Register adds every orchard worker.
func Register(workers *river.Workers, deps Deps) error {
	d := deps.DEP
	if d == nil {
		d = &DEP{Store: deps.Store}
	}
	for _, add := range []func() error{
		func() error { return river.AddWorkerSafely(workers, &TokenCleanupWorker{store: deps.Store}) },
		func() error { return river.AddWorkerSafely(workers, &DEPSyncWorker{dep: d}) },
		func() error { return river.AddWorkerSafely(workers, &DEPSyncAllWorker{store: deps.Store}) },
		func() error { return river.AddWorkerSafely(workers, &DEPAssignDefaultWorker{dep: d}) },
	} {
		if err := add(); err != nil {
			return err
		}
	}
	return nil
}

// Schedule is how often periodic jobs run.
type Schedule struct {
	TokenCleanup time.Duration
	// DEPSync is how often every DEP virtual server syncs; 0 turns it off.
	DEPSync time.Duration
}

// DefaultSchedule is what orchard runs without configuration.
func DefaultSchedule() Schedule {
	return Schedule{TokenCleanup: 24 * time.Hour, DEPSync: 30 * time.Minute}
}

// PeriodicJobs turns a schedule into River periodic jobs.
func PeriodicJobs(s Schedule) []*river.PeriodicJob {
	jobs := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(s.TokenCleanup),
			func() (river.JobArgs, *river.InsertOpts) { return TokenCleanupArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: false}),
	}
	if s.DEPSync > 0 {
		jobs = append(jobs, river.NewPeriodicJob(river.PeriodicInterval(s.DEPSync),
			func() (river.JobArgs, *river.InsertOpts) { return DEPSyncAllArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	return jobs
}
