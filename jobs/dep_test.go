package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// depEnv is a database, a DEP simulator with an uploaded token for it, and a
// working River client.
type depEnv struct {
	t      testing.TB
	store  *store.Store
	sim    *depsim.Server
	river  *jobs.Client
	svc    *service.Service
	server store.DEPVirtualServer
	// direct reaches the simulator without the hooks, for checks.
	direct *dep.Client
	// fetches counts POST /server/devices; before runs before each call.
	fetches atomic.Int64
	before  atomic.Pointer[func(n int64, w http.ResponseWriter, r *http.Request) bool]
}

func newDEPEnv(t testing.TB, devices int) *depEnv {
	t.Helper()
	e := &depEnv{t: t, sim: depsim.New(depsim.Config{Devices: devices})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int64(0)
		if r.URL.Path == "/server/devices" {
			n = e.fetches.Add(1)
		}
		if hook := e.before.Load(); hook != nil && (*hook)(n, w, r) {
			return
		}
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	directSrv := httptest.NewServer(e.sim)
	t.Cleanup(directSrv.Close)
	e.direct = dep.New(dep.Config{BaseURL: directSrv.URL, Credentials: e.sim.Credentials()})
	e.start(srv.URL, e.sim.TokenJSON())
	return e
}

// start gives the env a database, a service whose DEP client calls baseURL
// with the uploaded token, and a working River client.
func (e *depEnv) start(baseURL string, token []byte) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	e.store = pgtest.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inserter, err := jobargs.NewInserter(e.store.Pool(), logger)
	check(t, err)
	e.svc = service.New(service.Config{Store: e.store, Jobs: inserter, Logger: logger, PublicURL: "https://orchard.example.com",
		DEP: service.DEPConfig{BaseURL: baseURL, Backoff: func(int) time.Duration { return 10 * time.Millisecond }}})
	tok, err := e.svc.CreateDEPToken(ctx, "test", "test")
	check(t, err)
	e.server, err = e.svc.UploadDEPToken(ctx, "test", tok.ID, token)
	check(t, err)

	workers := river.NewWorkers()
	check(t, jobs.Register(workers, jobs.Deps{Store: e.store, Logger: logger, Service: e.svc}))
	e.river, err = jobs.NewClient(e.store.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	check(t, err)
	check(t, e.river.Start(ctx))
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.river.Stop(stop)
	})
}

func (e *depEnv) hook(f func(n int64, w http.ResponseWriter, r *http.Request) bool) {
	e.before.Store(&f)
}

// sync queues a sync and waits until it is finalized, or retryable.
func (e *depEnv) sync(full bool) *rivertype.JobRow {
	e.t.Helper()
	res, err := e.river.Insert(context.Background(), jobargs.DEPSync{VirtualServerID: e.server.ID, FullSync: full}, nil)
	check(e.t, err)
	return e.wait(res.Job.ID, rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateRetryable)
}

func (e *depEnv) wait(id int64, states ...rivertype.JobState) *rivertype.JobRow {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		job, err := e.river.JobGet(context.Background(), id)
		check(e.t, err)
		for _, s := range states {
			if job.State == s {
				return job
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %d is %s, never one of %v (errors %v)", id, job.State, states, job.Errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func syncOutput(t *testing.T, job *rivertype.JobRow) jobs.DEPSyncOutput {
	t.Helper()
	if job.State != rivertype.JobStateCompleted {
		t.Fatalf("job %d is %s: %v", job.ID, job.State, job.Errors)
	}
	var out jobs.DEPSyncOutput
	must(t, json.Unmarshal(job.Output(), &out))
	return out
}

// count counts the devices a filter matches exactly, page by page:
// CountDEPDevices estimates past a thousand.
func (e *depEnv) count(f store.DEPDeviceFilter) int {
	e.t.Helper()
	n, page := 0, store.Page{First: 1000}
	for {
		list, more, err := e.store.ListDEPDevices(context.Background(), f, page)
		check(e.t, err)
		n += len(list)
		if !more {
			return n
		}
		page.After = list[len(list)-1].ID
	}
}

func TestDEPSyncFetchesThenSyncsChanges(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 2500)
	out := syncOutput(t, e.sync(false))
	// 3 fetch pages, then one sync page: nothing changed since the fetch began.
	if out.Added != 2500 || out.Pages != 4 || !out.FullFetch || e.fetches.Load() != 3 {
		t.Fatalf("first sync: %+v after %d fetch calls", out, e.fetches.Load())
	}
	if n := e.count(store.DEPDeviceFilter{VirtualServerID: e.server.ID}); n != 2500 {
		t.Fatalf("%d devices stored", n)
	}

	added := e.sim.AddDevices(3)
	must(t, e.sim.ModifyDevice("SIM000000010", "TAG-10"))
	must(t, e.sim.DeleteDevice("SIM000000011"))
	out = syncOutput(t, e.sync(false))
	if out.Added != 3 || out.Modified != 1 || out.Deleted != 1 || out.FullFetch || e.fetches.Load() != 3 {
		t.Fatalf("second sync: %+v", out)
	}
	d, err := e.store.DEPDeviceBySerial(context.Background(), added[0])
	must(t, err)
	if d.OpType != "added" || d.OpDate == nil || d.Model == "" {
		t.Fatalf("added device %+v", d)
	}
	if d, _ := e.store.DEPDeviceBySerial(context.Background(), "SIM000000010"); d.AssetTag != "TAG-10" || d.OpType != "modified" {
		t.Fatalf("modified device %+v", d)
	}
	if d, _ := e.store.DEPDeviceBySerial(context.Background(), "SIM000000011"); d.DeletedAt == nil || d.OpType != "deleted" {
		t.Fatalf("deleted device %+v", d)
	}
	if n := e.count(store.DEPDeviceFilter{VirtualServerID: e.server.ID}); n != 2502 {
		t.Fatalf("%d devices listed, want 2502", n)
	}
}

func TestDEPSyncRenewsAnExpiredSessionMidSync(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 2500)
	sessionsBefore := e.sim.Requests("/session")
	e.hook(func(n int64, _ http.ResponseWriter, _ *http.Request) bool {
		if n == 2 {
			e.sim.ExpireSessions()
		}
		return false
	})
	out := syncOutput(t, e.sync(false))
	if out.Added != 2500 {
		t.Fatalf("sync %+v", out)
	}
	// One session for the job, one more after the expiry: shared and renewed once.
	if got := e.sim.Requests("/session") - sessionsBefore; got != 2 {
		t.Fatalf("%d sessions opened, want 2", got)
	}
}

func TestDEPSyncRefetchesAfterExpiredCursor(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 1200)
	syncOutput(t, e.sync(false))
	e.sim.ExpireCursors()
	must(t, e.sim.DeleteDevice("SIM000000001"))
	out := syncOutput(t, e.sync(false))
	if !out.FullFetch || out.Deleted != 1 || out.Added != 0 {
		t.Fatalf("sync after EXPIRED_CURSOR: %+v", out)
	}
	if e.fetches.Load() != 4 {
		t.Fatalf("%d fetch calls, want 2 + 2", e.fetches.Load())
	}
	// A full sync asked for lists everything again and marks what Apple dropped.
	must(t, e.sim.DeleteDevice("SIM000000002"))
	e.sim.ExpireCursors() // so the deletion is not also reported by a sync
	out = syncOutput(t, e.sync(true))
	if !out.FullFetch || out.Deleted != 1 {
		t.Fatalf("full sync: %+v", out)
	}
	if n := e.count(store.DEPDeviceFilter{VirtualServerID: e.server.ID}); n != 1198 {
		t.Fatalf("%d devices listed, want 1198", n)
	}
}

func TestDEPSyncSurfacesTermsNotSigned(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 10)
	e.sim.SetTermsUnsigned(true)
	job := e.sync(false)
	if job.State != rivertype.JobStateCancelled || len(job.Errors) == 0 ||
		!strings.Contains(job.Errors[0].Error, "T_C_NOT_SIGNED") || !strings.Contains(job.Errors[0].Error, "terms and conditions") {
		t.Fatalf("job %s, errors %+v", job.State, job.Errors)
	}
}

func TestDEPSyncRetriesTooManyRequests(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 1500)
	e.sim.FailNext(3, http.StatusTooManyRequests, "0")
	out := syncOutput(t, e.sync(false))
	if out.Added != 1500 {
		t.Fatalf("sync %+v", out)
	}
}

func TestDEPSyncDefaultProfileIsAssignedToNewDevices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newDEPEnv(t, 1500)
	_, client, err := e.svc.DEPClient(ctx, e.server.ID)
	must(t, err)
	def, err := client.DefineProfile(ctx, &depProfile)
	must(t, err)
	p, err := e.store.SaveDEPProfile(ctx, store.DEPProfile{VirtualServerID: e.server.ID, Name: "default",
		ProfileUUID: def.ProfileUUID, URL: depProfile.URL})
	must(t, err)
	_, err = e.store.SetDEPDefaultProfile(ctx, e.server.ID, &p.ID)
	must(t, err)
	syncOutput(t, e.sync(false))
	var assign *rivertype.JobRow
	deadline := time.Now().Add(30 * time.Second)
	for assign == nil && time.Now().Before(deadline) {
		res, err := e.river.JobList(ctx, river.NewJobListParams().Kinds("dep_assign_default_profile").States(rivertype.JobStateCompleted))
		must(t, err)
		if len(res.Jobs) > 0 {
			assign = res.Jobs[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if assign == nil {
		t.Fatal("no default-profile assignment completed")
	}
	if n := e.count(store.DEPDeviceFilter{ProfileStatus: "assigned"}); n != 1500 {
		t.Fatalf("%d devices assigned, want 1500 (output %s)", n, assign.Output())
	}
	if d, ok := e.sim.Device("SIM000001499"); !ok || d.ProfileUUID != def.ProfileUUID {
		t.Fatalf("Apple's view of the device: %+v", d)
	}
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestDEPSessionIsSharedThroughTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newDEPEnv(t, 1)
	before := e.sim.Requests("/session")
	// Two clients stand for two orchard processes.
	for range 2 {
		_, c, err := e.svc.DEPClient(ctx, e.server.ID)
		must(t, err)
		_, err = c.Account(ctx)
		must(t, err)
	}
	if got := e.sim.Requests("/session") - before; got != 1 {
		t.Fatalf("%d sessions opened by two clients of one token, want 1", got)
	}
	var sealed string
	must(t, e.store.Pool().QueryRow(ctx, "SELECT session_sealed FROM dep_tokens WHERE id = $1", e.server.TokenID).Scan(&sealed))
	if !strings.HasPrefix(sealed, "v1:") {
		t.Fatalf("the session is not sealed: %q", sealed)
	}
}

func TestDEPSyncNeverRunsTwiceForOneServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newDEPEnv(t, 10)
	// Another process holds the server's lock: the job waits its turn.
	conn, err := e.store.Pool().Acquire(ctx)
	must(t, err)
	defer conn.Release()
	var locked bool
	must(t, conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(0x6465700000000000)+e.server.ID).Scan(&locked))
	if !locked {
		t.Fatal("could not take the lock")
	}
	first, err := e.river.Insert(ctx, jobargs.DEPSync{VirtualServerID: e.server.ID}, nil)
	must(t, err)
	e.wait(first.Job.ID, rivertype.JobStateScheduled)
	if e.fetches.Load() != 0 {
		t.Fatal("the sync ran while another held the server's lock")
	}
	// Asking again while one waits gives the waiting one, full sync or not.
	again, err := e.river.Insert(ctx, jobargs.DEPSync{VirtualServerID: e.server.ID, FullSync: true}, nil)
	must(t, err)
	if !again.UniqueSkippedAsDuplicate || again.Job.ID != first.Job.ID {
		t.Fatalf("second sync %d (duplicate %v), want job %d", again.Job.ID, again.UniqueSkippedAsDuplicate, first.Job.ID)
	}
	_, err = conn.Exec(ctx, "SELECT pg_advisory_unlock_all()")
	must(t, err)
}

func TestDEPSyncWithAnExpiredTokenSaysSo(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 1)
	_, err := e.store.Pool().Exec(context.Background(), "UPDATE dep_tokens SET access_token_expiry = now() - interval '1 day'")
	must(t, err)
	job := e.sync(false)
	if job.State != rivertype.JobStateCancelled || len(job.Errors) == 0 || !strings.Contains(job.Errors[0].Error, "DEP token has expired") {
		t.Fatalf("job %s, errors %+v", job.State, job.Errors)
	}
	if e.fetches.Load() != 0 {
		t.Fatal("an expired token was sent to Apple")
	}
}

func TestPeriodicDEPSyncQueuesEveryServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newDEPEnv(t, 20)
	if n := len(jobs.PeriodicJobs(jobs.DefaultSchedule())); n != 7 {
		t.Fatalf("%d periodic jobs by default, want token cleanup, push certificate expiry, identity renewal, software update, DEP and location syncs, and inventory", n)
	}
	if n := len(jobs.PeriodicJobs(jobs.Schedule{TokenCleanup: time.Hour})); n != 1 {
		t.Fatalf("%d periodic jobs with DEP sync and push expiry checks off", n)
	}
	res, err := e.river.Insert(ctx, jobargs.DEPSyncAll{}, nil)
	must(t, err)
	e.wait(res.Job.ID, rivertype.JobStateCompleted)
	deadline := time.Now().Add(30 * time.Second)
	for e.count(store.DEPDeviceFilter{VirtualServerID: e.server.ID}) != 20 {
		if time.Now().After(deadline) {
			t.Fatal("the queued sync never stored the devices")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
