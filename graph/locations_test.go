package graph_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// newVPPAPI is the API with its service pointed at an Apps and Books simulator.
func newVPPAPI(t *testing.T) (*testAPI, *vppsim.Server) {
	t.Helper()
	sim := vppsim.New()
	apple := httptest.NewServer(sim.Handler())
	t.Cleanup(apple.Close)
	api := startTestAPI(t, func(_ *store.Store, cfg *service.Config, _ *jobs.Deps) {
		cfg.AppsBooks = service.AppsBooksConfig{BaseURL: apple.URL, Backoff: func(int) time.Duration { return time.Millisecond }}
	}, nil)
	return api, sim
}

const uploadLocation = `mutation($c: String) { uploadLocationToken(content: $c) { id name organizationName countryCode
	libraryUid platform websiteUrl mdmInfoId serverTokenExpirationDate } }`

func TestLocationsOverGraphQL(t *testing.T) {
	t.Parallel()
	api, sim := newVPPAPI(t)
	loc, stoken := sim.NewLocation(vppsim.Location{Name: "Berlin", OrgName: "Acme", Country: "DE", Platform: "enterprisestore",
		Website: "https://business.apple.com"})
	sim.AddAssets(loc, 3, 7)
	admin := api.token("mdm.add_location", "mdm.view_location", "mdm.view_locationasset", "mdm.change_location")

	if res := api.query(api.token("mdm.view_location"), uploadLocation, map[string]any{"c": stoken}); res.code() != "FORBIDDEN" {
		t.Errorf("upload without mdm.add_location: %+v", res.Errors)
	}
	if res := api.query(admin, uploadLocation, map[string]any{"c": "garbage"}); res.code() != "BAD_USER_INPUT" {
		t.Errorf("garbage token: %+v", res.Errors)
	}
	var up struct {
		UploadLocationToken struct {
			ID, Name, OrganizationName, CountryCode, LibraryUID, Platform, WebsiteURL, MdmInfoID string
		}
	}
	res := api.query(admin, uploadLocation, map[string]any{"c": stoken})
	res.decode(t, &up)
	l := up.UploadLocationToken
	if l.Name != "Berlin" || l.OrganizationName != "Acme" || l.CountryCode != "DE" || l.LibraryUID != loc.UID || l.MdmInfoID == "" {
		t.Errorf("location: %+v", l)
	}
	if strings.Contains(string(res.Data), stoken) {
		t.Error("the token is shown")
	}
	var list struct{ Locations []struct{ ID string } }
	api.query(admin, `{ locations(filter: {organizationName: "Acme"}) { id } }`, nil).decode(t, &list)
	if len(list.Locations) != 1 {
		t.Errorf("locations by organization: %+v", list)
	}
	api.query(admin, `{ locations(filter: {name: "Paris"}) { id } }`, nil).decode(t, &list)
	if len(list.Locations) != 0 {
		t.Errorf("locations named Paris: %+v", list)
	}
	if res := api.query(admin, `{ locationAssets(first: 5000) { id } }`, nil); res.code() != "BAD_USER_INPUT" {
		t.Errorf("first: 5000: %+v", res.Errors)
	}
	assign := `mutation($a: ID!, $d: [ID!]!) { assignAsset(locationAssetId: $a, deviceIds: $d) { id kind } }`
	if res := api.query(admin, assign, map[string]any{"a": "1", "d": []string{"1"}}); res.code() != "FORBIDDEN" {
		t.Errorf("assign without mdm.change_locationasset: %+v", res.Errors)
	}
	assigner := api.token("mdm.change_locationasset")
	for name, tc := range map[string]struct {
		vars map[string]any
		code string
	}{
		"unknown asset":     {map[string]any{"a": "999", "d": []string{"1"}}, "NOT_FOUND"},
		"bad device id":     {map[string]any{"a": "1", "d": []string{"x"}}, "BAD_USER_INPUT"},
		"no devices":        {map[string]any{"a": "1", "d": []string{}}, "BAD_USER_INPUT"},
		"negative asset id": {map[string]any{"a": "-1", "d": []string{"1"}}, "BAD_USER_INPUT"},
	} {
		if res := api.query(assigner, assign, tc.vars); res.code() != tc.code {
			t.Errorf("%s: %+v, want %s", name, res.Errors, tc.code)
		}
	}
}

// Acceptance 5: a graphql-ws subscriber sees the sync job finish, with the
// counts it synced.
func TestSyncLocationJobSeenBySubscriber(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api, sim := newVPPAPI(t)
	loc, stoken := sim.NewLocation(vppsim.Location{Name: "Berlin", OrgName: "Acme"})
	sim.AddAssets(loc, 1200, 5)
	sim.PageSize = 500
	// The first page waits until the subscription is known to be live.
	live := make(chan struct{})
	sim.BeforePage = func(path string, idx int) {
		if path == "/assets" && idx == 0 {
			select {
			case <-live:
			case <-ctx.Done():
			}
		}
	}
	admin := api.token("mdm.add_location", "mdm.change_location", "mdm.view_locationasset", "mdm.view_job")
	var up struct{ UploadLocationToken struct{ ID string } }
	api.query(admin, uploadLocation, map[string]any{"c": stoken}).decode(t, &up)

	sub := api.subscribe(ctx, admin, `subscription { jobEvents(kinds: ["location_sync"]) { type job { id kind state output } } }`, nil)
	var sync struct{ SyncLocation struct{ ID, Kind string } }
	api.query(admin, `mutation($id: ID!) { syncLocation(id: $id) { id kind } }`, map[string]any{"id": up.UploadLocationToken.ID}).decode(t, &sync)
	jobID, err := strconv.ParseInt(sync.SyncLocation.ID, 10, 64)
	must(t, err)
	// Announce the job until the subscriber hears it: then it is registered.
	go func() {
		for {
			select {
			case <-live:
				return
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
				_ = events.Publish(ctx, api.store.Pool(), events.Event{Topic: events.TopicJob, Type: "started", ID: jobID, Kind: "location_sync"})
			}
		}
	}()
	checkLocationSyncCompletedEvent(t, ctx, sub, live, sync.SyncLocation.ID)
	var assets struct{ LocationAssets []struct{ TotalCount int } }
	api.query(admin, `{ locationAssets(filter: {adamId: "400000000"}) { totalCount location { name } } }`, nil).decode(t, &assets)
	if len(assets.LocationAssets) != 1 || assets.LocationAssets[0].TotalCount != 5 {
		t.Errorf("asset after the sync: %+v", assets)
	}
}

// checkLocationSyncCompletedEvent reads job events, closing live at the first, until jobID's completed event, and checks its output.
func checkLocationSyncCompletedEvent(t *testing.T, ctx context.Context, sub *subscription, live chan struct{}, jobID string) {
	t.Helper()
	for opened := false; ; {
		var ev struct {
			JobEvents struct {
				Type string
				Job  struct {
					ID, Kind, State string
					Output          map[string]any
				}
			}
		}
		sub.next(ctx).decode(t, &ev)
		if !opened {
			opened = true
			close(live)
		}
		if ev.JobEvents.Job.ID == jobID && ev.JobEvents.Type == "completed" {
			if ev.JobEvents.Job.State != "COMPLETED" || ev.JobEvents.Job.Output["assets"] != float64(1200) ||
				ev.JobEvents.Job.Output["asset_pages"] != float64(3) {
				t.Fatalf("completed event: %+v", ev.JobEvents.Job)
			}
			break
		}
	}
}
