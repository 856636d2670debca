package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/jobs/jobargs"
)

// TestJobConnectionTotalCountFollowsTheFilter counts jobs over all pages,
// narrowed as the list is, whatever the page size.
func TestJobConnectionTotalCountFollowsTheFilter(t *testing.T) {
	api := newTestAPI(t)
	ctx := context.Background()
	later := &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}
	for id := int64(1); id <= 3; id++ {
		_, err := api.river.Insert(ctx, jobargs.DEPSync{VirtualServerID: id}, later)
		must(t, err)
	}
	tok := api.token("mdm.view_job")
	for filter, want := range map[string]int{
		`{kind: "dep_sync"}`:                   3,
		`{kind: "dep_sync", state: SCHEDULED}`: 3,
		`{kind: "dep_sync", state: COMPLETED}`: 0,
		`{kind: "no_such_kind"}`:               0,
	} {
		var out struct {
			Jobs struct {
				Edges      []struct{ Node struct{ ID string } }
				TotalCount int
			}
		}
		api.query(tok, `{ jobs(first: 1, filter: `+filter+`) { edges { node { id } } totalCount } }`, nil).decode(t, &out)
		if out.Jobs.TotalCount != want || len(out.Jobs.Edges) > 1 {
			t.Errorf("jobs(filter: %s): totalCount %d, %d edges; want %d", filter, out.Jobs.TotalCount, len(out.Jobs.Edges), want)
		}
	}
	for _, kind := range []string{"dep\u0000sync", strings.Repeat("k", 257)} {
		res := api.query(tok, `query($k: String) { jobs(filter: {kind: $k}) { totalCount } }`, map[string]any{"k": kind})
		if res.code() != graph.CodeBadUserInput {
			t.Errorf("kind %.20q: %+v, want BAD_USER_INPUT", kind, res.Errors)
		}
	}
}

// TestDeviceConnectionsCountOverAllPages checks totalCount of a device's
// commands (narrowed by status) and inventory lists, with a page of one.
func TestDeviceConnectionsCountOverAllPages(t *testing.T) {
	api := newTestAPI(t)
	ctx := context.Background()
	ids := addDevices(t, api.store, 2, "macOS", nil)
	admin := api.token("mdm.*")
	device := fmt.Sprint(ids[0])
	var cancelled string
	for range 3 {
		var out struct{ EnqueueDeviceCommand struct{ UUID string } }
		api.query(admin, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "DeviceInformation", payload: {Queries: ["OSVersion"]}) { uuid } }`,
			map[string]any{"id": device}).decode(t, &out)
		cancelled = out.EnqueueDeviceCommand.UUID
	}
	api.query(admin, `mutation($uuid: String!) { cancelDeviceCommand(uuid: $uuid) { uuid } }`, map[string]any{"uuid": cancelled}).decode(t, &struct{}{})
	for table, n := range map[string]int{"device_installed_applications": 4, "device_profiles": 2} {
		_, err := api.store.Pool().Exec(ctx, `INSERT INTO `+table+` (device_id) SELECT $1 FROM generate_series(1, $2)`, ids[0], n)
		must(t, err)
	}
	_, err := api.store.Pool().Exec(ctx, `INSERT INTO device_certificates (device_id, data) VALUES ($1, '\x00')`, ids[0])
	must(t, err)

	type count struct{ TotalCount int }
	var out struct {
		Device struct {
			All, Queued, Cancelled                        count
			InstalledApplications, Certificates, Profiles count
		}
	}
	api.query(admin, `query($id: ID!) { device(id: $id) {
		all: commands(first: 1) { totalCount }
		queued: commands(first: 1, status: QUEUED) { totalCount }
		cancelled: commands(first: 1, status: CANCELLED) { totalCount }
		installedApplications(first: 1) { totalCount }
		certificates(first: 1) { totalCount }
		profiles(first: 1) { totalCount } } }`, map[string]any{"id": device}).decode(t, &out)
	got := out.Device
	if got.All.TotalCount != 3 || got.Queued.TotalCount != 2 || got.Cancelled.TotalCount != 1 {
		t.Errorf("commands totalCount: all %d, queued %d, cancelled %d; want 3, 2, 1", got.All.TotalCount, got.Queued.TotalCount, got.Cancelled.TotalCount)
	}
	if got.InstalledApplications.TotalCount != 4 || got.Certificates.TotalCount != 1 || got.Profiles.TotalCount != 2 {
		t.Errorf("inventory totalCount: %+v; want applications 4, certificates 1, profiles 2", got)
	}

	// The other device's lists are its own.
	var other struct {
		Device struct{ Commands, Profiles count }
	}
	api.query(admin, `query($id: ID!) { device(id: $id) { commands { totalCount } profiles { totalCount } } }`,
		map[string]any{"id": fmt.Sprint(ids[1])}).decode(t, &other)
	if other.Device.Commands.TotalCount != 0 || other.Device.Profiles.TotalCount != 0 {
		t.Errorf("another device's totalCount: %+v; want 0", other.Device)
	}
}
