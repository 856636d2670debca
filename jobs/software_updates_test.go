package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

type swupdateEnv struct {
	t      testing.TB
	store  *store.Store
	sim    *swupdatesim.Server
	client *swupdate.Client
	svc    *service.Service
	river  *jobs.Client
}

func newSWUpdateEnv(t testing.TB, catalog swupdate.Catalog, work bool) *swupdateEnv {
	t.Helper()
	e := &swupdateEnv{t: t, store: pgtest.New(t), sim: swupdatesim.New(catalog)}
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	var err error
	e.client, err = swupdate.New(swupdate.Config{BaseURL: srv.URL})
	check(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inserter, err := jobargs.NewInserter(e.store.Pool(), logger)
	check(t, err)
	e.svc = service.New(service.Config{Store: e.store, Jobs: inserter, Logger: logger})
	if !work {
		return e
	}
	workers := river.NewWorkers()
	check(t, jobs.Register(workers, jobs.Deps{Store: e.store, Logger: logger, Service: e.svc, SoftwareUpdates: e.client}))
	e.river, err = jobs.NewClient(e.store.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	check(t, err)
	check(t, e.river.Start(context.Background()))
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.river.Stop(stop)
	})
	return e
}

// sync queues a sync through the service and waits for it to complete or
// fail once.
func (e *swupdateEnv) sync() *rivertype.JobRow {
	e.t.Helper()
	job, err := e.svc.SyncSoftwareUpdates(context.Background(), "test")
	check(e.t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		row, err := e.river.JobGet(context.Background(), job.ID)
		check(e.t, err)
		if row.State == rivertype.JobStateCompleted || row.State == rivertype.JobStateRetryable {
			return row
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("sync job is %s", row.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *swupdateEnv) counts(job *rivertype.JobRow) store.SoftwareUpdateCounts {
	e.t.Helper()
	if job.State != rivertype.JobStateCompleted {
		e.t.Fatalf("sync is %s: %v", job.State, job.Errors)
	}
	var out jobs.SoftwareUpdateSyncOutput
	check(e.t, json.Unmarshal(job.Output(), &out))
	return out.SoftwareUpdateCounts
}

// rows renders the stored catalog, one line per release, sorted.
func (e *swupdateEnv) rows() []string {
	e.t.Helper()
	list, _, err := e.store.ListSoftwareUpdates(context.Background(), store.SoftwareUpdateFilter{}, store.Page{First: 1000})
	check(e.t, err)
	out := make([]string, len(list))
	for i, u := range list {
		exp := "-"
		if u.ExpirationDate != nil {
			exp = u.ExpirationDate.Format(time.DateOnly)
		}
		out[i] = strings.Join([]string{u.Platform, u.ProductVersion, u.Build, map[bool]string{true: "public", false: "managed"}[u.Public],
			u.Extra, u.PrerequisiteBuild, u.PostingDate.Format(time.DateOnly), exp, strings.Join(u.SupportedDevices, " ")}, "|")
	}
	slices.Sort(out)
	return out
}

func TestSoftwareUpdateSync(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	e := newSWUpdateEnv(t, swupdatesim.Sample(now), true)
	phones := "iPad13,18 iPhone14,2 iPhone14,3 iPhone15,2 iPhone16,1"
	macs := "J314sAP J413AP Mac-827FAC58A8FDFA22 MacBookPro18,3 VMA2MACOSAP"
	want := []string{
		"iOS|17.7.2|21H221|managed|||2025-12-21|2026-06-19|" + phones,
		"iOS|18.2.1|22C161050a|public|(a)|22C161|2026-01-19|-|" + phones,
		"iOS|18.2.1|22C161|managed|||2026-01-17|-|" + phones,
		"iOS|18.2.1|22C161|public|||2026-01-17|-|" + phones,
		"iOS|18.2|22C152|public|||2025-12-31|2026-06-29|" + phones,
		"macOS|14.7.2|23H311|managed|||2026-01-10|-|" + macs,
		"macOS|15.2|24C101|managed|||2026-01-10|-|" + macs,
		"macOS|15.2|24C101|public|||2026-01-10|-|" + macs,
		"visionOS|2.2|22N842|public|||2026-01-08|-|RealityDevice14,1",
	}
	if got := e.counts(e.sync()); got != (store.SoftwareUpdateCounts{Added: 9, Total: 9}) {
		t.Fatalf("first sync %+v", got)
	}
	if got := e.rows(); !slices.Equal(got, want) {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if got := e.counts(e.sync()); got != (store.SoftwareUpdateCounts{Total: 9}) {
		t.Errorf("second sync changed something: %+v", got)
	}

	// Apple drops 17.7.2 and adds a device to 15.2's public listing.
	next := swupdatesim.Sample(now)
	next.AssetSets["iOS"] = next.AssetSets["iOS"][:1]
	mac := &next.PublicAssetSets["macOS"][0]
	mac.SupportedDevices = append(slices.Clone(mac.SupportedDevices), "Mac15,3")
	e.sim.SetCatalog(next)
	if got := e.counts(e.sync()); got != (store.SoftwareUpdateCounts{Updated: 1, Removed: 1, Total: 8}) {
		t.Errorf("sync after changes %+v", got)
	}
	rows := e.rows()
	if len(rows) != 8 || slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "17.7.2") }) {
		t.Errorf("rows after removal:\n%s", strings.Join(rows, "\n"))
	}
	if !slices.ContainsFunc(rows, func(r string) bool {
		return strings.HasPrefix(r, "macOS|15.2|24C101|public") && strings.Contains(r, "Mac15,3")
	}) {
		t.Errorf("device not added:\n%s", strings.Join(rows, "\n"))
	}
}

// A failing catalog fails the job with the reason, River retries it, and
// the stored catalog stays as it was.
func TestSoftwareUpdateSyncFailureKeepsCatalog(t *testing.T) {
	t.Parallel()
	e := newSWUpdateEnv(t, swupdatesim.Sample(time.Now()), true)
	e.counts(e.sync())
	before := e.rows()
	for _, tc := range []struct {
		name, want string
		break_     func()
	}{
		{"HTTP error", "HTTP 503", func() { e.sim.Fail(http.StatusServiceUnavailable) }},
		{"truncated body", "unexpected EOF", func() { e.sim.Fail(0); e.sim.Truncate(true) }},
		{"malformed entry", "not a version", func() {
			e.sim.Truncate(false)
			bad := swupdatesim.Sample(time.Now())
			bad.AssetSets["iOS"][0].ProductVersion = "eighteen"
			e.sim.SetCatalog(bad)
		}},
	} {
		tc.break_()
		job := e.sync()
		if job.State != rivertype.JobStateRetryable || len(job.Errors) == 0 || !strings.Contains(job.Errors[len(job.Errors)-1].Error, tc.want) {
			t.Errorf("%s: job %s, errors %v", tc.name, job.State, job.Errors)
		}
		if after := e.rows(); !slices.Equal(after, before) {
			t.Errorf("%s changed the catalog", tc.name)
		}
		// Let the next case queue a fresh job instead of getting this one back.
		_, err := e.river.JobCancel(context.Background(), job.ID)
		check(t, err)
	}
}

// Setting "latest minus 7 days" on a blueprint queues the enforcement job,
// which sends a device without declarative management ScheduleOSUpdate.
func TestSoftwareUpdateEnforceJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSWUpdateEnv(t, swupdatesim.Sample(time.Now()), true)
	e.counts(e.sync())
	bp, err := e.svc.CreateBlueprint(ctx, "t", "Phones")
	check(t, err)
	var device int64
	check(t, e.store.Pool().QueryRow(ctx, `INSERT INTO enrolled_devices (udid, model, platform, os_version, blueprint_id)
		VALUES ('enforce-1', 'iPhone14,2', 'iOS', '17.6', $1) RETURNING id`, bp.ID).Scan(&device))
	seven := 7
	_, err = e.svc.SetSoftwareUpdateEnforcement(ctx, "t", bp.ID, service.EnforcementInput{Platform: "iOS", LatestMinusDays: &seven})
	check(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		check(t, e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands
			WHERE device_id = $1 AND request_type = 'ScheduleOSUpdate'`, device).Scan(&n))
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ScheduleOSUpdate commands queued", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
