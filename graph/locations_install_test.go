package graph_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
)

// A simulated device given a licence with assignAsset receives
// InstallApplication for the app, to install with its Apps and Books licence.
func TestAssignedDeviceReceivesInstallApplication(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api, sim := newVPPAPI(t)
	loc, stoken := sim.NewLocation(vppsim.Location{Name: "Berlin", OrgName: "Acme"})
	sim.AddAssets(loc, 1, 5)
	admin := api.token("mdm.*")
	d, deviceID := enrollSimulatedDevice(t, ctx, api, admin)

	var up struct{ UploadLocationToken struct{ ID string } }
	api.query(admin, uploadLocation, map[string]any{"c": stoken}).decode(t, &up)
	var sync struct{ SyncLocation struct{ ID string } }
	api.query(admin, `mutation($id: ID!) { syncLocation(id: $id) { id } }`, map[string]any{"id": up.UploadLocationToken.ID}).decode(t, &sync)
	waitJob(ctx, t, api, sync.SyncLocation.ID)
	var assets struct{ LocationAssets []struct{ ID, AdamID string } }
	api.query(admin, `{ locationAssets { id adamId } }`, nil).decode(t, &assets)
	if len(assets.LocationAssets) != 1 {
		t.Fatalf("synced assets: %+v", assets)
	}
	asset := assets.LocationAssets[0]
	var assign struct{ AssignAsset struct{ ID string } }
	api.query(admin, `mutation($a: ID!, $d: [ID!]!) { assignAsset(locationAssetId: $a, deviceIds: $d) { id } }`,
		map[string]any{"a": asset.ID, "d": []string{deviceID}}).decode(t, &assign)
	waitJob(ctx, t, api, assign.AssignAsset.ID)

	var installs []devicesim.Command
	d.Answer = func(cmd *devicesim.Command) (string, map[string]any) {
		if cmd.RequestType == "InstallApplication" {
			installs = append(installs, *cmd)
		}
		return "Acknowledged", nil
	}
	_, err := d.Connect(ctx)
	must(t, err)
	if len(installs) != 1 || fmt.Sprint(installs[0].Fields["iTunesStoreID"]) != asset.AdamID {
		t.Fatalf("InstallApplication received: %+v, want one for app %s", installs, asset.AdamID)
	}
	options, _ := installs[0].Fields["Options"].(map[string]any)
	if fmt.Sprint(options["PurchaseMethod"]) != "1" {
		t.Fatalf("InstallApplication options %v: want the Apps and Books licence (PurchaseMethod 1)", options)
	}
}

// enrollSimulatedDevice enrolls a simulated device through a new enrollment
// and answers its first inventory; it returns the device and its id.
func enrollSimulatedDevice(t *testing.T, ctx context.Context, api *testAPI, tok string) (*devicesim.Device, string) {
	t.Helper()
	srv := api.deviceEndpoint()
	var e struct{ CreateEnrollment struct{ URL string } }
	api.query(tok, `mutation { createEnrollment(input: {name: "apps"}) { url } }`, nil).decode(t, &e)
	u, err := url.Parse(e.CreateEnrollment.URL)
	must(t, err)
	d, err := devicesim.New(srv.Client())
	must(t, err)
	must(t, d.Enroll(ctx, srv.URL+u.Path))
	_, err = d.Connect(ctx)
	must(t, err)
	var list devicePage
	api.query(tok, deviceQuery, map[string]any{"filter": map[string]any{"udid": d.UDID}}).decode(t, &list)
	if len(list.Devices.Edges) != 1 {
		t.Fatalf("enrolled device not listed: %+v", list)
	}
	return d, list.Devices.Edges[0].Node.ID
}

func waitJob(ctx context.Context, t *testing.T, api *testAPI, id string) {
	t.Helper()
	waitJobState(ctx, t, api, int64(mustInt(t, id)), rivertype.JobStateCompleted)
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	must(t, err)
	return n
}
