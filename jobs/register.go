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
}

// Register adds every orchard worker.
func Register(workers *river.Workers, deps Deps) error {
	return river.AddWorkerSafely(workers, &TokenCleanupWorker{store: deps.Store})
}

// Schedule is how often periodic jobs run.
type Schedule struct {
	TokenCleanup time.Duration
}

// DefaultSchedule is what orchard runs without configuration.
func DefaultSchedule() Schedule {
	return Schedule{TokenCleanup: 24 * time.Hour}
}

// PeriodicJobs turns a schedule into River periodic jobs.
func PeriodicJobs(s Schedule) []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(s.TokenCleanup),
			func() (river.JobArgs, *river.InsertOpts) { return TokenCleanupArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: false}),
	}
}
