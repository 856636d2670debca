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
	if err := river.AddWorkerSafely(workers, &TokenCleanupWorker{store: deps.Store}); err != nil {
		return err
	}
	return registerDEP(workers, deps)
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
	return append([]*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(s.TokenCleanup),
			func() (river.JobArgs, *river.InsertOpts) { return TokenCleanupArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: false}),
	}, depPeriodicJobs(s)...)
}
