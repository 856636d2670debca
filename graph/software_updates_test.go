package graph_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// newSWUpdateAPI is the API with its workers fetching the catalog from a
// simulator serving the sample catalog.
func newSWUpdateAPI(t *testing.T) *testAPI {
	t.Helper()
	srv := httptest.NewServer(swupdatesim.New(swupdatesim.Sample(time.Now())))
	t.Cleanup(srv.Close)
	client, err := swupdate.New(swupdate.Config{BaseURL: srv.URL})
	must(t, err)
	return startTestAPI(t, func(_ *store.Store, _ *service.Config, d *jobs.Deps) { d.SoftwareUpdates = client }, nil)
}

// A subscriber sees the sync asked by syncSoftwareUpdates finish, with its counts.
func TestSyncSoftwareUpdatesSubscriberSeesCounts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := newSWUpdateAPI(t)
	tok := api.token("mdm.view_job", "mdm.change_softwareupdate", "mdm.view_softwareupdate")
	sub := api.subscribe(ctx, tok, `subscription { jobEvents(kinds: ["software_update_sync"]) { type job { id state output } } }`, nil)

	var started struct{ SyncSoftwareUpdates struct{ ID, Kind string } }
	api.query(tok, `mutation { syncSoftwareUpdates { id kind } }`, nil).decode(t, &started)
	if started.SyncSoftwareUpdates.Kind != "software_update_sync" {
		t.Fatalf("job %+v", started)
	}
	id, err := model.UnmarshalInt64ID(started.SyncSoftwareUpdates.ID)
	must(t, err)
	waitJobState(ctx, t, api, id, rivertype.JobStateCompleted)
	// The subscription registers asynchronously: repeat the job's own event
	// until it arrives (see TestJobEventsStreamToSubscribers).
	go func() {
		for ctx.Err() == nil {
			_ = events.Publish(ctx, api.store.Pool(), events.Event{Topic: events.TopicJob, Type: "completed", ID: id, Kind: "software_update_sync"})
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var ev struct {
		JobEvents struct {
			Type string
			Job  struct {
				ID, State string
				Output    map[string]any
			}
		}
	}
	sub.next(ctx).decode(t, &ev)
	out := ev.JobEvents.Job.Output
	if ev.JobEvents.Type != "completed" || ev.JobEvents.Job.ID != started.SyncSoftwareUpdates.ID ||
		out["added"] != float64(9) || out["updated"] != float64(0) || out["removed"] != float64(0) {
		t.Fatalf("event %+v", ev.JobEvents)
	}

	var list struct {
		SoftwareUpdates struct {
			TotalCount int
			Edges      []struct {
				Node struct{ ProductVersion, Build, Extra, PostingDate string }
			}
		}
	}
	api.query(tok, `{ softwareUpdates(filter: {platform: "iOS", public: true}) { totalCount
		edges { node { productVersion build extra postingDate } } } }`, nil).decode(t, &list)
	if list.SoftwareUpdates.TotalCount != 3 || len(list.SoftwareUpdates.Edges) != 3 {
		t.Errorf("public iOS releases %+v", list.SoftwareUpdates)
	}
}

// A device whose model is in the catalog lists the releases newer than its
// OS; an unknown model lists none.
func TestDeviceAvailableSoftwareUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	catalog := swupdatesim.Sample(time.Now())
	svc := service.New(service.Config{Store: api.store})
	_, err := svc.ReplaceSoftwareUpdateCatalog(ctx, "test", &catalog)
	must(t, err)
	device := func(model string) string {
		var id int64
		must(t, api.store.Pool().QueryRow(ctx, `INSERT INTO enrolled_devices (udid, model, platform, os_version, build_version)
			VALUES (gen_random_uuid()::text, $1, 'iOS', '18.2', '22C152') RETURNING id`, model).Scan(&id))
		return fmt.Sprint(id)
	}
	known, unknown := device("iPhone14,2"), device("iPhone99,1")
	tok := api.token("mdm.view_enrolleddevice", "mdm.view_softwareupdate")
	for id, want := range map[string][]string{known: {"18.2.1 (a) 22C161050a", "18.2.1  22C161", "18.2.1  22C161"}, unknown: {}} {
		var res struct {
			Device struct {
				AvailableSoftwareUpdates []struct{ ProductVersion, Extra, Build string }
			}
			SoftwareUpdates struct{ TotalCount int }
		}
		api.query(tok, `query($id: ID!) { device(id: $id) { availableSoftwareUpdates { productVersion extra build } }
			softwareUpdates(filter: {availableForDeviceId: $id}) { totalCount } }`, map[string]any{"id": id}).decode(t, &res)
		var got []string
		for _, u := range res.Device.AvailableSoftwareUpdates {
			got = append(got, u.ProductVersion+" "+u.Extra+" "+u.Build)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || res.SoftwareUpdates.TotalCount != len(want) {
			t.Errorf("device %s: %q (total %d), want %q", id, got, res.SoftwareUpdates.TotalCount, want)
		}
	}
}

func TestSoftwareUpdateEnforcementMutations(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tok := api.token("mdm.add_blueprint", "mdm.view_blueprint", "mdm.change_softwareupdateenforcement",
		"mdm.delete_softwareupdateenforcement")
	var bp struct{ CreateBlueprint struct{ ID string } }
	api.query(tok, `mutation { createBlueprint(input: {name: "Phones"}) { id } }`, nil).decode(t, &bp)
	set := `mutation($bp: ID!, $in: SoftwareUpdateEnforcementInput!) { setSoftwareUpdateEnforcement(blueprintId: $bp, input: $in) {
		platform osVersion latestMinusDays localTime } }`
	for name, in := range map[string]map[string]any{
		"unknown platform": {"platform": "Android", "latestMinusDays": 7},
		"not a version":    {"platform": "iOS", "osVersion": "eighteen", "targetLocalDateTime": "2099-01-01T09:00:00"},
		"past date":        {"platform": "iOS", "osVersion": "18.2", "targetLocalDateTime": "2001-01-01T09:00:00"},
	} {
		if res := api.query(tok, set, map[string]any{"bp": bp.CreateBlueprint.ID, "in": in}); res.code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v", name, res.Errors)
		}
	}
	if res := api.query(tok, set, map[string]any{"bp": "999999", "in": map[string]any{"platform": "iOS", "latestMinusDays": 7}}); res.code() != "NOT_FOUND" {
		t.Errorf("unknown blueprint: %+v", res.Errors)
	}
	var ok struct {
		SetSoftwareUpdateEnforcement struct {
			Platform        string
			OsVersion       *string
			LatestMinusDays int
			LocalTime       string
		}
	}
	api.query(tok, set, map[string]any{"bp": bp.CreateBlueprint.ID, "in": map[string]any{"platform": "iOS", "latestMinusDays": 7}}).decode(t, &ok)
	if e := ok.SetSoftwareUpdateEnforcement; e.Platform != "iOS" || e.OsVersion != nil || e.LatestMinusDays != 7 || e.LocalTime != "09:00" {
		t.Errorf("set %+v", e)
	}
	var shown struct {
		Blueprints struct {
			Edges []struct {
				Node struct{ SoftwareUpdateEnforcements []struct{ Platform string } }
			}
		}
	}
	api.query(tok, `{ blueprints { edges { node { softwareUpdateEnforcements { platform } } } } }`, nil).decode(t, &shown)
	if e := shown.Blueprints.Edges; len(e) != 1 || len(e[0].Node.SoftwareUpdateEnforcements) != 1 {
		t.Errorf("blueprint enforcements %+v", shown)
	}
	remove := `mutation($bp: ID!) { removeSoftwareUpdateEnforcement(blueprintId: $bp, platform: "iOS") }`
	for _, want := range []bool{true, false} {
		var res struct{ RemoveSoftwareUpdateEnforcement bool }
		api.query(tok, remove, map[string]any{"bp": bp.CreateBlueprint.ID}).decode(t, &res)
		if res.RemoveSoftwareUpdateEnforcement != want {
			t.Errorf("remove = %v, want %v", res.RemoveSoftwareUpdateEnforcement, want)
		}
	}
}
