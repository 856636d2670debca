package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// maxVersionRestarts bounds how often a sync starts over because Apple's
// data moved under it, so a location changing all the time still ends.
const maxVersionRestarts = 5

// LocationSyncOutput is the job's output, and its progress while it runs.
type LocationSyncOutput struct {
	AssetPages      int `json:"asset_pages"`
	AssignmentPages int `json:"assignment_pages"`
	Restarts        int `json:"restarts"`
	Assets          int `json:"assets"`
	Removed         int `json:"removed"`
	Assignments     int `json:"assignments"`
	// Replayed: assignment rows that notifications received during the
	// sync changed again on top of its snapshot.
	Replayed  int     `json:"replayed"`
	VersionID string  `json:"version_id,omitempty"`
	Duration  float64 `json:"duration_seconds"`
}

// LocationSyncWorker works jobargs.LocationSync.
type LocationSyncWorker struct {
	river.WorkerDefaults[jobargs.LocationSync]
	svc *service.Service
}

// Timeout leaves room for large libraries on a slow Apple day.
func (w *LocationSyncWorker) Timeout(*river.Job[jobargs.LocationSync]) time.Duration {
	return 30 * time.Minute
}

// Work pages through Apple's assets and assignments into staging, one
// transaction a page, and swaps them in at the end: a sync cut short leaves
// the previous counts.
func (w *LocationSyncWorker) Work(ctx context.Context, job *river.Job[jobargs.LocationSync]) error {
	start := time.Now()
	id := job.Args.LocationID
	_, client, err := w.svc.LocationClient(ctx, id)
	if err != nil {
		return cancelUnlessLocationTransient(err)
	}
	s := w.svc.Store()
	if err := s.StartLocationSync(ctx, id); err != nil {
		return err
	}
	out := LocationSyncOutput{}
	p := &pager{s: s, job: job.JobRow, loc: id, out: &out}
	version, err := p.run(ctx, "assets", func(i int) (appsbooks.Page, func() error, error) {
		page, err := client.Assets(ctx, i)
		if err != nil {
			return appsbooks.Page{}, nil, err
		}
		return page.Page, func() error { return s.StageLocationAssets(ctx, id, job.ID, page.Assets) }, nil
	})
	if err == nil {
		_, err = p.run(ctx, "assignments", func(i int) (appsbooks.Page, func() error, error) {
			page, err := client.Assignments(ctx, i)
			if err != nil {
				return appsbooks.Page{}, nil, err
			}
			return page.Page, func() error { return s.StageLocationAssignments(ctx, id, job.ID, page.Assignments) }, nil
		})
	}
	if err != nil {
		return appsBooksJobError(err)
	}
	counts, err := s.FinishLocationSync(ctx, id, job.ID, version)
	if err != nil {
		return err
	}
	out.Assets, out.Removed, out.Assignments, out.VersionID = counts.Assets, counts.Removed, counts.Assignments, version
	out.Replayed = counts.Replayed
	out.Duration = time.Since(start).Seconds()
	return river.RecordOutput(ctx, out)
}

// pager walks one paged endpoint, starting over when its versionId moves.
type pager struct {
	s   *store.Store
	job *rivertype.JobRow
	loc int64
	out *LocationSyncOutput
}

// run fetches pages from 0 until Apple gives no next page; each page is
// staged (one transaction) only once its version is known to be current.
func (p *pager) run(ctx context.Context, kind string, fetch func(int) (appsbooks.Page, func() error, error)) (string, error) {
	version := ""
	for idx := 0; ; {
		page, stage, err := fetch(idx)
		if err != nil {
			return "", fmt.Errorf("location %d %s page %d: %w", p.loc, kind, idx, err)
		}
		if version != "" && page.VersionID != version {
			// Apple's data changed under the sync: what was staged may be stale.
			if p.out.Restarts++; p.out.Restarts > maxVersionRestarts {
				return "", fmt.Errorf("location %d: %s kept changing during the sync (%d restarts)", p.loc, kind, maxVersionRestarts)
			}
			if err := p.s.RestartLocationSync(ctx, p.loc, p.job.ID, kind); err != nil {
				return "", err
			}
			version, idx = "", 0
			continue
		}
		if err := stage(); err != nil {
			return "", err
		}
		version = page.VersionID
		if kind == "assets" {
			p.out.AssetPages++
		} else {
			p.out.AssignmentPages++
		}
		if err := ReportProgress(ctx, p.s.Pool(), p.job, p.out); err != nil {
			return "", err
		}
		if page.NextPageIndex == nil || *page.NextPageIndex <= idx {
			return version, nil
		}
		idx = *page.NextPageIndex
	}
}

// cancelUnlessLocationTransient ends a sync for good when only a person can
// help (no such location, expired token); anything else is retried.
func cancelUnlessLocationTransient(err error) error {
	if service.IsKind(err, service.NotFound) || service.IsKind(err, service.Invalid) {
		return river.JobCancel(err)
	}
	return err
}

// appsBooksJobError: a refused token cancels (retries cannot help); a rate
// limit snoozes for Apple's Retry-After; the rest is retried by River.
func appsBooksJobError(err error) error {
	if appsbooks.TokenRefused(err) {
		return river.JobCancel(err)
	}
	if wait, ok := appsbooks.RateLimited(err); ok && wait > 0 {
		return river.JobSnooze(wait)
	}
	return err
}

// LocationSyncAllWorker works jobargs.LocationSyncAll.
type LocationSyncAllWorker struct {
	river.WorkerDefaults[jobargs.LocationSyncAll]
	store *store.Store
}

// Work queues one sync per location; locations already syncing keep theirs.
func (w *LocationSyncAllWorker) Work(ctx context.Context, job *river.Job[jobargs.LocationSyncAll]) error {
	locations, err := w.store.ListLocations(ctx, store.LocationFilter{})
	if err != nil {
		return err
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	for _, l := range locations {
		if _, err := client.Insert(ctx, jobargs.LocationSync{LocationID: l.ID}, nil); err != nil {
			return err
		}
	}
	return river.RecordOutput(ctx, map[string]any{"queued": len(locations)})
}

// registerAppsBooks adds the Apps and Books workers.
func registerAppsBooks(workers *river.Workers, deps Deps) error {
	if err := river.AddWorkerSafely(workers, &LocationSyncWorker{svc: deps.Service}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &LocationSyncAllWorker{store: deps.Store}); err != nil {
		return err
	}
	poll := deps.AppsBooksPoll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	return river.AddWorkerSafely(workers, &LocationAssignWorker{svc: deps.Service, poll: poll})
}

// appsBooksPeriodicJobs syncs every location on the schedule.
func appsBooksPeriodicJobs(s Schedule) []*river.PeriodicJob {
	if s.LocationSync <= 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(s.LocationSync),
		func() (river.JobArgs, *river.InsertOpts) { return jobargs.LocationSyncAll{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}
