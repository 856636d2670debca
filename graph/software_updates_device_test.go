package graph_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// The whole path with a simulated Mac (Mac14,3 on macOS 14.4): it enrolls and
// answers DeviceInformation, the catalog syncs, the Mac lists the releases
// of its model newer than its OS, and a blueprint enforcing "latest minus 7
// days" sends it ScheduleOSUpdate for 15.2 (it has no declarative management).
func TestSimulatedDeviceSoftwareUpdates(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := newMac143CatalogClient(t)
	api := startTestAPI(t, func(_ *store.Store, _ *service.Config, d *jobs.Deps) { d.SoftwareUpdates = client }, nil)
	tok := api.token("mdm.*")
	devSrv := api.deviceEndpoint()

	var created struct{ CreateEnrollment struct{ URL string } }
	api.query(tok, `mutation { createEnrollment(input: {name: "Macs"}) { url } }`, nil).decode(t, &created)
	u, err := url.Parse(created.CreateEnrollment.URL)
	must(t, err)
	mac, err := devicesim.New(devSrv.Client())
	must(t, err)
	must(t, mac.Enroll(ctx, devSrv.URL+u.Path))
	var id string
	must(t, api.store.Pool().QueryRow(ctx, "SELECT id::text FROM enrolled_devices WHERE udid = $1", mac.UDID).Scan(&id))
	api.query(tok, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "DeviceInformation",
		payload: {Queries: ["Model", "ProductName", "OSVersion", "BuildVersion"]}) { uuid } }`, map[string]any{"id": id}).decode(t, &struct{}{})
	if _, err := mac.Connect(ctx); err != nil {
		t.Fatal(err)
	}

	var job struct{ SyncSoftwareUpdates struct{ ID string } }
	api.query(tok, `mutation { syncSoftwareUpdates { id } }`, nil).decode(t, &job)
	waitUntilDone(ctx, t, "catalog synced", func() bool {
		n, err := api.store.CountSoftwareUpdates(ctx, store.SoftwareUpdateFilter{})
		return err == nil && n == 9
	})
	checkUpdatesAvailableToMac(t, api, tok, id)

	var bp struct{ CreateBlueprint struct{ ID string } }
	api.query(tok, `mutation { createBlueprint(input: {name: "Macs"}) { id } }`, nil).decode(t, &bp)
	_, err = api.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET blueprint_id = $1 WHERE udid = $2", bp.CreateBlueprint.ID, mac.UDID)
	must(t, err)
	api.query(tok, `mutation($bp: ID!) { setSoftwareUpdateEnforcement(blueprintId: $bp, input: {platform: "macOS", latestMinusDays: 7}) { platform } }`,
		map[string]any{"bp": bp.CreateBlueprint.ID}).decode(t, &struct{}{})
	var got []devicesim.Command
	mac.Answer = func(cmd *devicesim.Command) (string, map[string]any) {
		if cmd.RequestType != "DeclarativeManagement" { // told its declarations changed
			got = append(got, *cmd)
		}
		return "Acknowledged", nil
	}
	waitUntilDone(ctx, t, "ScheduleOSUpdate received", func() bool {
		_, err := mac.Connect(ctx)
		must(t, err)
		return len(got) > 0
	})
	updates, _ := got[0].Fields["Updates"].([]any)
	if len(updates) != 1 {
		t.Fatalf("command %s %v", got[0].RequestType, got[0].Fields)
	}
	first, _ := updates[0].(map[string]any)
	if got[0].RequestType != "ScheduleOSUpdate" || first["ProductVersion"] != "15.2" || first["InstallAction"] != "InstallASAP" {
		t.Fatalf("command %s %v", got[0].RequestType, got[0].Fields)
	}
}

// newMac143CatalogClient serves the sample catalog, with every macOS asset also supporting Mac14,3, and returns a client for it.
func newMac143CatalogClient(t *testing.T) *swupdate.Client {
	t.Helper()
	catalog := swupdatesim.Sample(time.Now())
	for _, sets := range []swupdate.AssetSets{catalog.PublicAssetSets, catalog.AssetSets} {
		for i := range sets["macOS"] {
			sets["macOS"][i].SupportedDevices = append(slices.Clone(sets["macOS"][i].SupportedDevices), "Mac14,3")
		}
	}
	catSrv := httptest.NewServer(swupdatesim.New(catalog))
	t.Cleanup(catSrv.Close)
	client, err := swupdate.New(swupdate.Config{BaseURL: catSrv.URL})
	must(t, err)
	return client
}

// checkUpdatesAvailableToMac checks the device's available software updates are 15.2, 15.2 and 14.7.2.
func checkUpdatesAvailableToMac(t *testing.T, api *testAPI, tok, id string) {
	t.Helper()
	var avail struct {
		Device struct {
			AvailableSoftwareUpdates []struct{ ProductVersion string }
		}
	}
	api.query(tok, `query($id: ID!) { device(id: $id) { availableSoftwareUpdates { productVersion } } }`,
		map[string]any{"id": id}).decode(t, &avail)
	var versions []string
	for _, a := range avail.Device.AvailableSoftwareUpdates {
		versions = append(versions, a.ProductVersion)
	}
	if !slices.Equal(versions, []string{"15.2", "15.2", "14.7.2"}) {
		t.Fatalf("available to the Mac: %v", versions)
	}
}

func waitUntilDone(ctx context.Context, t *testing.T, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
