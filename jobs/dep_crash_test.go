package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
)

var depProfile = dep.Profile{ProfileName: "default", URL: "https://orchard.example.com/enroll/dep", IsSupervised: true}

// assertConsistent checks the stored cursor against the stored devices: a
// fetch cursor from the simulator resumes after exactly the devices stored.
func assertConsistent(t *testing.T, e *depEnv, wantStored int) {
	t.Helper()
	ctx := context.Background()
	st, err := e.store.DEPSyncStateOf(ctx, e.server.ID)
	must(t, err)
	if n := e.count(store.DEPDeviceFilter{VirtualServerID: e.server.ID}); n != wantStored {
		t.Fatalf("%d devices stored, want %d", n, wantStored)
	}
	if st.Phase != store.DEPPhaseFetch || st.Cursor == "" {
		t.Fatalf("sync state %+v, want a fetch under way", st)
	}
	// Asking Apple with the stored cursor gives the devices after the stored ones.
	page, err := e.direct.FetchDevices(ctx, 1, st.Cursor)
	must(t, err)
	if _, err := e.store.DEPDeviceBySerial(ctx, page.Devices[0].SerialNumber); err == nil {
		t.Fatalf("the stored cursor points at %s, which is already stored: the cursor is behind", page.Devices[0].SerialNumber)
	}
	if _, err := e.store.DEPDeviceBySerial(ctx, "SIM000001999"); err != nil {
		t.Fatalf("the last device of the stored pages is missing: %v", err)
	}
}

func TestDEPSyncCancelledMidFetchResumesFromItsCursor(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 2500)
	ctx := context.Background()
	inThird, done := make(chan struct{}), make(chan struct{})
	defer close(done)
	e.hook(func(n int64, _ http.ResponseWriter, r *http.Request) bool {
		if n == 3 {
			close(inThird)
			select { // hold the third page until the job is cancelled
			case <-r.Context().Done():
			case <-done:
			}
			return true
		}
		return false
	})
	res, err := e.river.Insert(ctx, jobargs.DEPSync{VirtualServerID: e.server.ID}, nil)
	must(t, err)
	select {
	case <-inThird:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync never asked for a third page")
	}
	// Progress is visible while the job runs: two pages saved (the second
	// one is saved while the third is asked for).
	progress := e.progressAfter(res.Job.ID, 2)
	if progress.Pages != 2 || progress.Added != 2000 {
		t.Fatalf("running job with progress %+v", progress)
	}
	_, err = e.river.JobCancel(ctx, res.Job.ID)
	must(t, err)
	e.wait(res.Job.ID, rivertype.JobStateCancelled)
	assertConsistent(t, e, 2000)

	e.hook(func(int64, http.ResponseWriter, *http.Request) bool { return false })
	out := syncOutput(t, e.sync(false))
	// One fetch page and one sync page: resumed, not started over.
	if out.Added != 500 || out.Pages != 2 {
		t.Fatalf("resumed sync %+v, want 500 added from one fetch page and one sync page", out)
	}
	if n := e.count(store.DEPDeviceFilter{VirtualServerID: e.server.ID}); n != 2500 {
		t.Fatalf("%d devices after the resumed sync", n)
	}
}

// progressAfter waits until the running job has reported progress of at
// least pages pages, and returns it.
func (e *depEnv) progressAfter(id int64, pages int) jobs.DEPSyncOutput {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		job, err := e.river.JobGet(context.Background(), id)
		check(e.t, err)
		// River keeps the output recorded so far under "output".
		var meta struct {
			Progress jobs.DEPSyncOutput `json:"output"`
		}
		if len(job.Metadata) > 0 {
			check(e.t, json.Unmarshal(job.Metadata, &meta))
		}
		if job.State != rivertype.JobStateRunning {
			e.t.Fatalf("job %d is %s, progress %+v", id, job.State, meta.Progress)
		}
		if meta.Progress.Pages >= pages {
			return meta.Progress
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %d never reported %d pages: %+v", id, pages, meta.Progress)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDEPSyncConnectionCutMidFetchIsRetriedFromItsCursor(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 2500)
	checked := make(chan struct{})
	e.hook(func(n int64, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 3:
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close() // the connection drops before any answer
			}
			return true
		case 4:
			select { // River's retry waits until the state after the cut is checked
			case <-checked:
			case <-r.Context().Done():
			}
		}
		return false
	})
	res, err := e.river.Insert(context.Background(), jobargs.DEPSync{VirtualServerID: e.server.ID}, nil)
	must(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		job, err := e.river.JobGet(context.Background(), res.Job.ID)
		must(t, err)
		if len(job.Errors) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cut never failed the job: %s", job.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	assertConsistent(t, e, 2000)
	close(checked)
	out := syncOutput(t, e.wait(res.Job.ID, rivertype.JobStateCompleted, rivertype.JobStateDiscarded))
	if out.Added != 500 || out.Pages != 2 {
		t.Fatalf("retried sync %+v, want 500 added from one fetch page and one sync page", out)
	}
}

func TestDEPSaveDEPPageIsAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	page := store.DEPPage{ServerID: e.server.ID, Phase: store.DEPPhaseFetch, Cursor: "next", More: true,
		Devices: []dep.Device{{SerialNumber: "A"}, {SerialNumber: "B"}}}
	if _, err := e.store.SaveDEPPage(ctx, page); err == nil {
		t.Fatal("saved with a cancelled context")
	}
	// A page that does not follow the stored cursor changes nothing.
	page.From = "some other cursor"
	if _, err := e.store.SaveDEPPage(context.Background(), page); err != store.ErrDEPCursorMoved {
		t.Fatalf("err = %v, want ErrDEPCursorMoved", err)
	}
	st, err := e.store.DEPSyncStateOf(context.Background(), e.server.ID)
	must(t, err)
	if st.Cursor != "" || e.count(store.DEPDeviceFilter{}) != 0 {
		t.Fatalf("state %+v with %d devices after failed saves", st, e.count(store.DEPDeviceFilter{}))
	}
}

// The next page is fetched while a page is saved: Apple failing that next
// page, before the save has committed, must not lose the saved page or its
// cursor.
func TestDEPSyncFailureOfTheNextPageKeepsThePageBeingSaved(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 2500)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, client, err := e.svc.DEPClient(ctx, e.server.ID)
	must(t, err)
	// Once page 1 is saved, a transaction holds the server's row, so the
	// commit of page 2 waits on it until Apple has refused page 3.
	blocker, err := e.store.Pool().Begin(ctx)
	must(t, err)
	locked, refused := make(chan struct{}), make(chan struct{})
	e.hook(func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		if n != 3 {
			return false
		}
		select { // page 3 is refused only while page 2 cannot commit
		case <-locked:
		case <-ctx.Done():
		}
		close(refused)
		http.Error(w, dep.CodeAccessDenied, http.StatusForbidden)
		return true
	})
	released := make(chan struct{})
	go func() {
		defer close(released)
		select {
		case <-refused:
		case <-ctx.Done():
		}
		_ = blocker.Commit(context.Background())
	}()
	out, err := e.svc.SyncDEPDevices(ctx, e.server.ID, client, func(p jobs.DEPSyncOutput) error {
		if p.Pages == 1 {
			// FOR NO KEY UPDATE, as the cursor's update takes: FOR UPDATE would
			// also wait for page 2's write, whose trigger holds the row FOR
			// KEY SHARE, and page 2 would wait for this callback.
			_, err := blocker.Exec(ctx, "SELECT 1 FROM dep_virtual_servers WHERE id = $1 FOR NO KEY UPDATE", e.server.ID)
			close(locked)
			return err
		}
		return nil
	})
	<-released
	if !dep.HasCode(err, dep.CodeAccessDenied) || out.Pages != 2 {
		t.Fatalf("sync ended with %v after %+v, want ACCESS_DENIED after 2 saved pages", err, out)
	}
	assertConsistent(t, e, 2000)
}

// While page 1 cannot commit (a transaction holds the server's row), page 2
// is already written beside it; both then commit in order and the fetch ends
// with every device listed and none marked deleted.
func TestDEPSyncWritesTheNextPageWhileAPageCommits(t *testing.T) {
	t.Parallel()
	e := newDEPEnv(t, 3500)
	ctx := context.Background()
	blocker, err := e.store.Pool().Begin(ctx)
	must(t, err)
	// FOR NO KEY UPDATE stops a cursor from moving but not devices from being written.
	_, err = blocker.Exec(ctx, "SELECT 1 FROM dep_virtual_servers WHERE id = $1 FOR NO KEY UPDATE", e.server.ID)
	must(t, err)
	res, err := e.river.Insert(ctx, jobargs.DEPSync{VirtualServerID: e.server.ID}, nil)
	must(t, err)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var writing int
		// pg_locks is the cluster's: other tests' databases have a dep_devices
		// of the same oid.
		must(t, e.store.Pool().QueryRow(ctx, `SELECT count(DISTINCT l.virtualtransaction) FROM pg_locks AS l
			WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND l.relation = 'dep_devices'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted`).Scan(&writing))
		if writing == 2 {
			break
		}
		if time.Now().After(deadline) {
			_ = blocker.Rollback(ctx)
			t.Fatalf("never two pages written at once (%d)", writing)
		}
	}
	if n := e.count(store.DEPDeviceFilter{IncludeDeleted: true}); n != 0 {
		t.Fatalf("%d devices visible before page 1 could commit", n)
	}
	must(t, blocker.Commit(ctx))
	out := syncOutput(t, e.wait(res.Job.ID, rivertype.JobStateCompleted, rivertype.JobStateDiscarded, rivertype.JobStateRetryable))
	if out.Added != 3500 || out.Deleted != 0 || out.Pages != 5 {
		t.Fatalf("sync %+v, want 3500 added over 4 fetch pages and 1 sync page", out)
	}
	st, err := e.store.DEPSyncStateOf(ctx, e.server.ID)
	must(t, err)
	if n := e.count(store.DEPDeviceFilter{IncludeDeleted: true}); n != 3500 || st.Phase != store.DEPPhaseSync {
		t.Fatalf("%d devices stored, state %+v", n, st)
	}
}
