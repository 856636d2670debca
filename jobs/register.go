package jobs

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// Deps are what workers need. Features add their clients here.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	// APNs sends pushes; nil cancels push jobs (processes that never push).
	APNs Pusher
	// Push tunes push jobs; zero fields take DefaultPushConfig's.
	Push PushConfig
	// Service carries out what jobs change (DEP clients and assignments).
	Service *service.Service
	// DEPAssignPause is the wait between batches of default-profile assignments.
	DEPAssignPause time.Duration
}

// Register adds every orchard worker.
func Register(workers *river.Workers, deps Deps) error {
	if err := river.AddWorkerSafely(workers, &TokenCleanupWorker{store: deps.Store}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, newPushWorker(deps)); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &PushCertExpiryWorker{store: deps.Store, logger: deps.Logger}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &ProfileReconcileWorker{service: deps.Service}); err != nil {
		return err
	}
	return registerDEP(workers, deps)
}

func newPushWorker(deps Deps) *PushWorker {
	cfg, def := deps.Push, DefaultPushConfig()
	if cfg.Window <= 0 {
		cfg.Window = def.Window
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = def.MaxRetries
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = def.RetryBase
	}
	return &PushWorker{store: deps.Store, apns: deps.APNs, cfg: cfg, logger: deps.Logger}
}

// Schedule is how often periodic jobs run.
type Schedule struct {
	TokenCleanup time.Duration
	// PushCertExpiry is how often push certificates are checked; 0 turns it off.
	PushCertExpiry time.Duration
	// DEPSync is how often every DEP virtual server syncs; 0 turns it off.
	DEPSync time.Duration
}

// DefaultSchedule is what orchard runs without configuration.
func DefaultSchedule() Schedule {
	return Schedule{TokenCleanup: 24 * time.Hour, PushCertExpiry: 24 * time.Hour, DEPSync: 30 * time.Minute}
}

// PeriodicJobs turns a schedule into River periodic jobs; a zero interval
// leaves that job out.
func PeriodicJobs(s Schedule) []*river.PeriodicJob {
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(s.TokenCleanup),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.TokenCleanup{}, nil },
			&river.PeriodicJobOpts{RunOnStart: false}),
	}
	if s.PushCertExpiry > 0 {
		// Run on start too: a process restarted daily would otherwise never check.
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(s.PushCertExpiry),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.PushCertExpiry{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	return append(periodic, depPeriodicJobs(s)...)
}
