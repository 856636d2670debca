package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// vppEnv is the service on a fresh database, pointed at a simulator.
type vppEnv struct {
	svc   *service.Service
	store *store.Store
	sim   *vppsim.Server
	// orchard serves the notification endpoint, at the public URL.
	orchard *httptest.Server
}

func newVPPEnv(t *testing.T) *vppEnv {
	t.Helper()
	e := &vppEnv{store: pgtest.New(t), sim: vppsim.New()}
	apple := httptest.NewServer(e.sim.Handler())
	t.Cleanup(apple.Close)
	mux := http.NewServeMux()
	e.orchard = httptest.NewServer(mux)
	t.Cleanup(e.orchard.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inserter, err := jobargs.NewInserter(e.store.Pool(), logger)
	must(t, err)
	e.svc = service.New(service.Config{Store: e.store, Jobs: inserter, Logger: logger, PublicURL: e.orchard.URL,
		AppsBooks: service.AppsBooksConfig{BaseURL: apple.URL, Backoff: func(int) time.Duration { return time.Millisecond }}})
	mux.Handle("POST "+service.NotificationPath+"{id}", appsbooks.NotificationHandler(e.svc))
	return e
}

func (e *vppEnv) location(name string) (*vppsim.Location, string) {
	return e.sim.NewLocation(vppsim.Location{Name: name, OrgName: "Acme", Country: "DE", Platform: "enterprisestore",
		Website: "https://business.apple.com"})
}

// Acceptance 1: garbage, expired and foreign tokens are refused with the
// reason and store nothing; a good one shows a location with Apple's fields.
func TestUploadLocationToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newVPPEnv(t)
	loc, stoken := e.location("Berlin")
	expired := appsbooks.EncodeContentToken("x", "Acme", time.Now().Add(-time.Hour))
	foreign := appsbooks.EncodeContentToken("not-apples", "Acme", time.Now().AddDate(1, 0, 0))
	for name, file := range map[string]string{"garbage": "hello", "json, not base64": `{"token":"x"}`,
		"expired": expired, "unknown to Apple": foreign, "empty": ""} {
		if _, err := e.svc.UploadLocationToken(ctx, "t", nil, []byte(file)); !service.IsKind(err, service.Invalid) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	if list, _ := e.store.ListLocations(ctx, store.LocationFilter{}); len(list) != 0 || len(auditActions(t, e.store)) != 0 {
		t.Fatalf("refusals stored %d locations", len(list))
	}

	l, err := e.svc.UploadLocationToken(ctx, "alice", nil, []byte(stoken+"\n"))
	must(t, err)
	if l.Name != "Berlin" || l.OrganizationName != "Acme" || l.CountryCode != "DE" || l.LibraryUID != loc.UID ||
		l.Platform != "enterprisestore" || l.WebsiteURL != "https://business.apple.com" || l.MdmInfoID == "" ||
		l.ServerTokenExpirationDate.Sub(loc.Expires).Abs() > time.Second {
		t.Errorf("location: %+v", l)
	}
	reg := e.sim.Registered(loc)
	if reg.NotificationURL != e.orchard.URL+service.NotificationPath+loc.UID || len(reg.NotificationAuthToken) < 40 ||
		reg.MdmInfo == nil || reg.MdmInfo.ID != l.MdmInfoID {
		t.Errorf("registered with Apple: %+v", reg)
	}
	if again, err := e.svc.UploadLocationToken(ctx, "t", nil, []byte(stoken)); !service.IsKind(err, service.Invalid) {
		t.Errorf("second upload of one location: %+v %v", again, err)
	}

	// Renewal: a new token of the same location, to the same id, keeps it.
	renewed := e.sim.RenewToken(loc, time.Now().AddDate(2, 0, 0))
	l2, err := e.svc.UploadLocationToken(ctx, "alice", &l.ID, []byte(renewed))
	must(t, err)
	if l2.ID != l.ID || l2.MdmInfoID != l.MdmInfoID || !l2.ServerTokenExpirationDate.After(l.ServerTokenExpirationDate) {
		t.Errorf("renewal: %+v", l2)
	}
	_, other := e.location("Munich")
	if _, err := e.svc.UploadLocationToken(ctx, "t", &l.ID, []byte(other)); !service.IsKind(err, service.Invalid) {
		t.Errorf("renewal with another location's token: %v", err)
	}
	tok, err := e.store.LocationToken(ctx, l.ID)
	if err != nil || tok != renewed {
		t.Errorf("stored token is not the renewed one: %v", err)
	}
	if got := auditActions(t, e.store); len(got) != 2 || got[0] != "location.upload_token" {
		t.Errorf("audit: %v", got)
	}
	must(t, e.svc.DeleteLocation(ctx, "alice", l.ID))
	if err := e.svc.DeleteLocation(ctx, "alice", l.ID); !service.IsKind(err, service.NotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// Acceptance 4: a bad bearer is 401 and changes nothing; a good
// notification moves counts; a repeated one is ignored.
func TestLocationNotifications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newVPPEnv(t)
	loc, l := e.seededLocation(t, "Berlin")
	count := func() int {
		list, err := e.store.ListLocationAssets(ctx, store.LocationAssetFilter{LocationID: l.ID, AdamID: "400000000"})
		must(t, err)
		return list[0].TotalCount
	}
	url := e.sim.Registered(loc).NotificationURL
	delta := appsbooks.AssetCountNotification{AdamID: "400000000", PricingParam: "STDQ", CountDelta: 5}
	for name, bearer := range map[string]string{"wrong bearer": "nope", "empty bearer": ""} {
		status, _, err := e.sim.Post(ctx, url, bearer, loc.UID, appsbooks.NotifyAssetCount, delta, "")
		if err != nil || status != http.StatusUnauthorized || count() != 10 {
			t.Errorf("%s: %d %v, total %d", name, status, err, count())
		}
	}
	status, _, _ := e.sim.Post(ctx, e.orchard.URL+service.NotificationPath+"nosuchlib", "x", "nosuchlib", appsbooks.NotifyAssetCount, delta, "")
	if status != http.StatusUnauthorized {
		t.Errorf("unknown location: %d", status)
	}
	status, id, err := e.sim.Notify(ctx, loc, appsbooks.NotifyAssetCount, delta)
	if err != nil || status != http.StatusOK || count() != 15 {
		t.Fatalf("good notification: %d %v, total %d", status, err, count())
	}
	reg := e.sim.Registered(loc)
	status, _, _ = e.sim.Post(ctx, url, reg.NotificationAuthToken, loc.UID, appsbooks.NotifyAssetCount, delta, id)
	if status != http.StatusOK || count() != 15 {
		t.Errorf("repeated notification: %d, total %d", status, count())
	}
	assoc := appsbooks.AssetManagementNotification{EventID: "e1", Result: "SUCCESS", Type: "ASSOCIATE",
		Assignments: []appsbooks.Assignment{{AdamID: "400000001", PricingParam: "STDQ", SerialNumber: "C02X"}}}
	if status, _, _ := e.sim.Notify(ctx, loc, appsbooks.NotifyAssetManagement, assoc); status != http.StatusOK {
		t.Fatalf("asset management: %d", status)
	}
	a, _ := e.store.ListLocationAssets(ctx, store.LocationAssetFilter{LocationID: l.ID, AdamID: "400000001"})
	if a[0].AssignedCount != 1 || a[0].AvailableCount != 9 {
		t.Errorf("after ASSOCIATE: %+v", a[0])
	}
	if got := auditActions(t, e.store); len(got) != 3 {
		t.Errorf("audit: %v (one upload, two notifications)", got)
	}
}

// seededLocation is a location of two assets (ten licences each) uploaded
// to orchard, with its first page of assets synced.
func (e *vppEnv) seededLocation(t *testing.T, name string) (*vppsim.Location, store.Location) {
	t.Helper()
	loc, stoken := e.location(name)
	e.sim.AddAssets(loc, 2, 10)
	l, err := e.svc.UploadLocationToken(context.Background(), "t", nil, []byte(stoken))
	must(t, err)
	seedAssets(t, e, l.ID, loc)
	return loc, l
}

// seedAssets stages and swaps in the simulator's first page of assets, as
// a sync would.
func seedAssets(t *testing.T, e *vppEnv, id int64, loc *vppsim.Location) {
	t.Helper()
	ctx := context.Background()
	_, client, err := e.svc.LocationClient(ctx, id)
	must(t, err)
	page, err := client.Assets(ctx, 0)
	must(t, err)
	must(t, e.store.StageLocationAssets(ctx, id, 1, page.Assets))
	_, err = e.store.FinishLocationSync(ctx, id, 1, page.VersionID)
	must(t, err)
}

// A sync swaps in Apple's snapshot, read while Apple may notify changes: an
// assignment notified after the sync began survives the swap (applied again
// on top of the snapshot), one notified before it is the snapshot's to say.
func TestNotificationsDuringASyncSurviveItsSwap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newVPPEnv(t)
	loc, l := e.seededLocation(t, "Hamburg")
	associate := func(serial string) {
		t.Helper()
		n := appsbooks.AssetManagementNotification{EventID: "e-" + serial, Result: "SUCCESS", Type: "ASSOCIATE",
			Assignments: []appsbooks.Assignment{{AdamID: "400000001", PricingParam: "STDQ", SerialNumber: serial}}}
		if status, _, err := e.sim.Notify(ctx, loc, appsbooks.NotifyAssetManagement, n); err != nil || status != http.StatusOK {
			t.Fatalf("notification: %d %v", status, err)
		}
	}
	assigned := func() []string {
		rows, err := e.store.Pool().Query(ctx, `SELECT serial_number FROM location_asset_assignments ORDER BY serial_number`)
		must(t, err)
		serials, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		return serials
	}

	associate("BEFORE")
	must(t, e.store.StartLocationSync(ctx, l.ID))
	_, client, err := e.svc.LocationClient(ctx, l.ID)
	must(t, err)
	page, err := client.Assets(ctx, 0)
	must(t, err)
	must(t, e.store.StageLocationAssets(ctx, l.ID, 2, page.Assets))
	associate("DURING") // after the snapshot's assignments were read: none
	counts, err := e.store.FinishLocationSync(ctx, l.ID, 2, page.VersionID)
	must(t, err)
	if got := assigned(); !slices.Equal(got, []string{"DURING"}) || counts.Replayed != 1 {
		t.Fatalf("after the swap: assignments %v, %d replayed; want DURING only, 1", got, counts.Replayed)
	}
	// The body of the notification from before the sync is dropped; the
	// ids stay, so Apple's retries are still ignored.
	var bodies, ids int
	must(t, e.store.Pool().QueryRow(ctx, `SELECT count(management), count(*) FROM location_notifications
		WHERE location_id = $1`, l.ID).Scan(&bodies, &ids))
	if bodies != 1 || ids != 2 {
		t.Fatalf("%d notification bodies and %d ids kept, want 1 and 2", bodies, ids)
	}
}
