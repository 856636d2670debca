package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// vppEnv is a database, an Apps and Books simulator with one uploaded
// location, and a working River client.
type vppEnv struct {
	depEnv
	vsim *vppsim.Server
	loc  *vppsim.Location
	id   int64
}

func newVPPEnv(t testing.TB, assets int) *vppEnv {
	t.Helper()
	ctx := context.Background()
	e := &vppEnv{depEnv: depEnv{t: t, store: pgtest.New(t)}, vsim: vppsim.New()}
	apple := httptest.NewServer(e.vsim.Handler())
	t.Cleanup(apple.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inserter, err := jobargs.NewInserter(e.store.Pool(), logger)
	check(t, err)
	e.svc = service.New(service.Config{Store: e.store, Jobs: inserter, Logger: logger, PublicURL: "https://orchard.example.com",
		AppsBooks: service.AppsBooksConfig{BaseURL: apple.URL, Backoff: func(int) time.Duration { return time.Millisecond }}})
	var stoken string
	e.loc, stoken = e.vsim.NewLocation(vppsim.Location{Name: "Berlin", OrgName: "Acme"})
	e.vsim.AddAssets(e.loc, assets, 10)
	l, err := e.svc.UploadLocationToken(ctx, "test", nil, []byte(stoken))
	check(t, err)
	e.id = l.ID
	workers := river.NewWorkers()
	check(t, jobs.Register(workers, jobs.Deps{Store: e.store, Logger: logger, Service: e.svc, AppsBooksPoll: 10 * time.Millisecond}))
	e.river, err = jobs.NewClient(e.store.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	check(t, err)
	check(t, e.river.Start(ctx))
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.river.Stop(stop)
	})
	return e
}

func (e *vppEnv) syncLocation() *rivertype.JobRow {
	e.t.Helper()
	job, err := e.svc.SyncLocation(context.Background(), "test", e.id)
	check(e.t, err)
	return e.wait(job.ID, rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateRetryable)
}

// totals adds up the counts orchard holds for the location.
func (e *vppEnv) totals() (assets, total, assigned int) {
	e.t.Helper()
	for after := int64(0); ; {
		page, err := e.store.ListLocationAssets(context.Background(), store.LocationAssetFilter{LocationID: e.id, After: after})
		check(e.t, err)
		if len(page) == 0 {
			return assets, total, assigned
		}
		for _, a := range page {
			assets, total, assigned = assets+1, total+a.TotalCount, assigned+a.AssignedCount
		}
		after = page[len(page)-1].ID
	}
}

func locationOutput(t testing.TB, job *rivertype.JobRow) jobs.LocationSyncOutput {
	t.Helper()
	if job.State != rivertype.JobStateCompleted {
		t.Fatalf("job %d is %s: %v", job.ID, job.State, job.Errors)
	}
	var out jobs.LocationSyncOutput
	check(t, json.Unmarshal(job.Output(), &out))
	return out
}

// Acceptance 2: 5,000 assets over ten pages give exact counts; a versionId
// change mid-sync restarts and still gives exact counts.
func TestLocationSyncPagesAndRestartsOnVersionChange(t *testing.T) {
	t.Parallel()
	e := newVPPEnv(t, 5000)
	out := locationOutput(t, e.syncLocation())
	if n, total, _ := e.totals(); n != 5000 || total != 50000 || out.AssetPages != 10 || out.Restarts != 0 {
		t.Fatalf("first sync: %d assets, %d licences, %+v", n, total, out)
	}
	var changed atomic.Bool
	e.vsim.BeforePage = func(path string, idx int) {
		if path == "/assets" && idx == 4 && !changed.Swap(true) {
			e.vsim.AddAssets(e.loc, 250, 4) // bought while the sync pages
			e.vsim.SetTotal(e.loc, "400000000", 30)
		}
	}
	out = locationOutput(t, e.syncLocation())
	if n, total, _ := e.totals(); n != 5250 || total != 50000+1000+20 || out.Restarts != 1 || out.AssetPages != 4+11 {
		t.Errorf("sync with a version change: %d assets, %d licences, %+v", n, total, out)
	}
}

// Acceptance 2: a sync cancelled mid-way leaves the previous counts.
func TestLocationSyncCancelledLeavesPreviousCounts(t *testing.T) {
	t.Parallel()
	e := newVPPEnv(t, 1200)
	locationOutput(t, e.syncLocation())
	_, before, _ := e.totals()
	var jobID atomic.Int64
	e.vsim.BeforePage = func(path string, idx int) {
		if path == "/assets" && idx == 1 {
			_, _ = e.river.JobCancel(context.Background(), jobID.Load())
			time.Sleep(3 * time.Second) // the worker's context ends meanwhile
		}
	}
	e.vsim.SetTotal(e.loc, "400000000", 99)
	job, err := e.svc.SyncLocation(context.Background(), "test", e.id)
	check(t, err)
	jobID.Store(job.ID)
	done := e.wait(job.ID, rivertype.JobStateCancelled, rivertype.JobStateCompleted)
	if n, total, _ := e.totals(); done.State != rivertype.JobStateCancelled || n != 1200 || total != before {
		t.Errorf("cancelled sync: job %s, %d assets, %d licences (before: %d)", done.State, n, total, before)
	}
	e.vsim.BeforePage = nil
	locationOutput(t, e.syncLocation())
	if _, total, _ := e.totals(); total != before+89 {
		t.Errorf("next sync: %d licences, want %d", total, before+89)
	}
}

// Apple refusing the token cancels the sync with the reason.
func TestLocationSyncWithRevokedTokenIsCancelled(t *testing.T) {
	t.Parallel()
	e := newVPPEnv(t, 10)
	e.vsim.Revoke(e.loc)
	if job := e.syncLocation(); job.State != rivertype.JobStateCancelled || len(job.Errors) == 0 {
		t.Errorf("revoked token: %s %v", job.State, job.Errors)
	}
}

// BenchmarkLocationSync5000 syncs a location of 5,000 assets (ten pages)
// and 5,000 assignments from the simulator, end to end through River.
func BenchmarkLocationSync5000(b *testing.B) {
	e := newVPPEnv(b, 5000)
	sn := make([]string, 10) // every licence of the first 500 assets
	for i := range sn {
		sn[i] = "C02BENCH" + strconv.Itoa(i)
	}
	for i := 0; i < 500; i++ {
		e.vsim.AssignNow(e.loc, strconv.Itoa(400000000+i), sn)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out := locationOutput(b, e.syncLocation()); out.Assets != 5000 || out.Assignments != 5000 {
			b.Fatalf("sync: %+v", out)
		}
	}
}

// The periodic job queues a sync of every location.
func TestPeriodicLocationSyncQueuesEveryLocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newVPPEnv(t, 30)
	res, err := e.river.Insert(ctx, jobargs.LocationSyncAll{}, nil)
	check(t, err)
	e.wait(res.Job.ID, rivertype.JobStateCompleted)
	deadline := time.Now().Add(30 * time.Second)
	for n, _, _ := e.totals(); n != 30; n, _, _ = e.totals() {
		if time.Now().After(deadline) {
			t.Fatal("the queued sync never stored the assets")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Apple's rate limit: a short Retry-After is waited out within the job; a
// long one snoozes the job for that long, leaving the counts as they were.
func TestLocationSyncHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newVPPEnv(t, 40)
	e.vsim.Throttle(2, 0)
	locationOutput(t, e.syncLocation())
	e.vsim.SetTotal(e.loc, "400000000", 99)
	e.vsim.Throttle(1, 3600)
	job, err := e.svc.SyncLocation(ctx, "test", e.id)
	check(t, err)
	snoozed := e.wait(job.ID, rivertype.JobStateScheduled, rivertype.JobStateCompleted, rivertype.JobStateRetryable)
	if snoozed.State != rivertype.JobStateScheduled || time.Until(snoozed.ScheduledAt) < 50*time.Minute {
		t.Errorf("rate-limited sync: %s until %s", snoozed.State, snoozed.ScheduledAt)
	}
	if n, total, _ := e.totals(); n != 40 || total != 400 {
		t.Errorf("counts moved by a rate-limited sync: %d assets, %d licences", n, total)
	}
}
