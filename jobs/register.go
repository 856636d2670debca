package jobs

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
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
	// SoftwareUpdates fetches Apple's software update catalog; nil cancels syncs.
	SoftwareUpdates *swupdate.Client
	// AppsBooksPoll is the wait between polls of an Apps and Books event (default 5 s).
	AppsBooksPoll time.Duration
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
	if err := river.AddWorkerSafely(workers, &IdentityRenewalWorker{svc: deps.Service}); err != nil {
		return err
	}
	if err := registerSoftwareUpdates(workers, deps); err != nil {
		return err
	}
	if err := registerAppsBooks(workers, deps); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &InventoryWorker{service: deps.Service}); err != nil {
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
	// IdentityRenewal is how often expiring device identities are renewed; 0 turns it off.
	IdentityRenewal time.Duration
	// SoftwareUpdateSync is how often Apple's software update catalog syncs; 0 turns it off.
	SoftwareUpdateSync time.Duration
	// LocationSync is how often every Apps and Books location syncs; 0 turns it off.
	LocationSync time.Duration
	// Inventory is how often due inventories are requested; 0 turns it off.
	Inventory time.Duration
}

// DefaultSchedule is what orchard runs without configuration.
func DefaultSchedule() Schedule {
	return Schedule{TokenCleanup: 24 * time.Hour, PushCertExpiry: 24 * time.Hour, DEPSync: 30 * time.Minute,
		IdentityRenewal: 24 * time.Hour, SoftwareUpdateSync: 24 * time.Hour, LocationSync: 6 * time.Hour,
		Inventory: jobargs.DefaultInventoryEvery}
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
	if s.IdentityRenewal > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(s.IdentityRenewal),
			func() (river.JobArgs, *river.InsertOpts) { return jobargs.IdentityRenewal{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	periodic = append(periodic, softwareUpdatePeriodicJobs(s)...)
	periodic = append(periodic, appsBooksPeriodicJobs(s)...)
	periodic = append(periodic, inventoryPeriodicJob(s.Inventory)...)
	return append(periodic, depPeriodicJobs(s)...)
}
