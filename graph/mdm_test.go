package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store/events"
)

// deviceEndpoint serves the device-facing endpoint on the API's database,
// its status events sent by a running publisher as orchard serve's are.
func (a *testAPI) deviceEndpoint() *httptest.Server {
	a.t.Helper()
	ca, err := endpoint.LoadCA(context.Background(), a.store)
	must(a.t, err)
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	publisher := events.NewPublisher(a.store.Pool(), logger)
	ctx, stop := context.WithCancel(context.Background())
	a.t.Cleanup(stop)
	go publisher.Run(ctx)
	ep, err := endpoint.New(endpoint.Config{Devices: service.New(service.Config{Store: a.store, Events: publisher}), CA: ca,
		PublicURL: srv.URL, Logger: logger})
	must(a.t, err)
	srv.Config.Handler = ep.Handler()
	a.t.Cleanup(srv.Close)
	return srv
}

type commandNode struct {
	UUID        string
	RequestType string
	Status      string
	QueuedBy    string
	SentAt      *string
	ResultAt    *string
	ErrorChain  json.RawMessage
	Result      map[string]any
}

const deviceCommandsQuery = `query($id: ID!) { device(id: $id) {
  name osVersion serialNumber appleSilicon supervised platform
  commands(first: 10) { edges { node { uuid requestType status queuedBy sentAt resultAt errorChain result } } }
} }`

type deviceWithCommands struct {
	Device struct {
		Name, OSVersion, SerialNumber, Platform string
		AppleSilicon, Supervised                bool
		Commands                                struct {
			Edges []struct{ Node commandNode }
		}
	}
}

// TestEnrollThenDeviceInformationThroughGraphQL is the whole path: an
// enrollment made in GraphQL, a simulated device enrolling through its
// profile and SCEP, a command queued in GraphQL, answered, and visible.
func TestEnrollThenDeviceInformationThroughGraphQL(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	devSrv := api.deviceEndpoint()
	tok := api.token("mdm.*")

	var created struct {
		CreateEnrollment struct {
			ID, URL              string
			PushTopicPlaceholder bool
		}
	}
	api.query(tok, `mutation { createEnrollment(input: {name: "Laptops"}) { id url pushTopicPlaceholder } }`, nil).decode(t, &created)
	u, err := url.Parse(created.CreateEnrollment.URL)
	must(t, err)
	if !strings.HasPrefix(u.Path, "/enroll/") || !created.CreateEnrollment.PushTopicPlaceholder {
		t.Fatalf("enrollment = %+v", created.CreateEnrollment)
	}

	d, err := devicesim.New(devSrv.Client())
	must(t, err)
	must(t, d.Enroll(context.Background(), devSrv.URL+u.Path))
	if !strings.Contains(d.Profile.Description, "placeholder") || d.Profile.Topic != endpoint.PlaceholderTopic {
		t.Fatalf("profile without push certificate must flag its placeholder topic: %+v", d.Profile)
	}

	var list devicePage
	api.query(tok, deviceQuery, map[string]any{"filter": map[string]any{"udid": d.UDID}}).decode(t, &list)
	if len(list.Devices.Edges) != 1 {
		t.Fatalf("enrolled device not listed: %+v", list)
	}
	id := list.Devices.Edges[0].Node.ID

	var queued struct{ EnqueueDeviceCommand commandNode }
	api.query(tok, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "DeviceInformation",
		payload: {Queries: ["DeviceName", "OSVersion"]}) { uuid requestType status queuedBy } }`,
		map[string]any{"id": id}).decode(t, &queued)
	if queued.EnqueueDeviceCommand.Status != "QUEUED" || !strings.HasPrefix(queued.EnqueueDeviceCommand.QueuedBy, "token:") {
		t.Fatalf("queued = %+v", queued.EnqueueDeviceCommand)
	}

	d.DeviceName, d.OSVersion = "Ada's MacBook", "15.2"
	n, err := d.Connect(context.Background())
	if err != nil || n != 3 { // its first inventory (DeviceInformation, SecurityInfo), then ours
		t.Fatalf("device answered %d commands, err %v", n, err)
	}

	checkDeviceAfterDeviceInformation(t, api, tok, id, d, queued.EnqueueDeviceCommand.UUID)

	// A user channel shows up as a user of the device.
	checkUserChannelIsDeviceUser(t, api, tok, id, d)
}

// checkDeviceAfterDeviceInformation checks the device's fields and its acknowledged DeviceInformation command with its result.
func checkDeviceAfterDeviceInformation(t *testing.T, api *testAPI, tok, id string, d *devicesim.Device, cmdUUID string) {
	t.Helper()
	var got deviceWithCommands
	api.query(tok, deviceCommandsQuery, map[string]any{"id": id}).decode(t, &got)
	dev := got.Device
	if dev.Name != "Ada's MacBook" || dev.OSVersion != "15.2" || dev.SerialNumber != d.SerialNumber ||
		!dev.AppleSilicon || !dev.Supervised || dev.Platform != "macOS" {
		t.Fatalf("device after DeviceInformation = %+v", dev)
	}
	cmds := dev.Commands.Edges
	if len(cmds) != 3 {
		t.Fatalf("%d commands, want 3", len(cmds))
	}
	c := cmds[0].Node
	if c.UUID != cmdUUID || c.Status != "ACKNOWLEDGED" || c.SentAt == nil || c.ResultAt == nil {
		t.Fatalf("command = %+v", c)
	}
	qr, _ := c.Result["QueryResponses"].(map[string]any)
	if qr["DeviceName"] != "Ada's MacBook" || c.Result["Status"] != "Acknowledged" {
		t.Fatalf("command result = %v", c.Result)
	}
}

// checkUserChannelIsDeviceUser checks in a user channel's TokenUpdate and checks it shows up as the device's one user.
func checkUserChannelIsDeviceUser(t *testing.T, api *testAPI, tok, id string, d *devicesim.Device) {
	t.Helper()
	_, err := d.Checkin(context.Background(), &mdmproto.CheckinMessage{MessageType: mdmproto.TokenUpdate,
		Enrollment: mdmproto.Enrollment{UDID: d.UDID, UserID: "A1B2C3D4-0000-4000-8000-0000000001F5", UserShortName: "ada", UserLongName: "Ada"},
		Token:      []byte("t"), PushMagic: "m"})
	must(t, err)
	var users struct {
		Device struct {
			Users []struct{ UserID, ShortName, LongName string }
		}
	}
	api.query(tok, `query($id: ID!) { device(id: $id) { users { userId shortName longName } } }`, map[string]any{"id": id}).decode(t, &users)
	if u := users.Device.Users; len(u) != 1 || u[0].UserID != "A1B2C3D4-0000-4000-8000-0000000001F5" || u[0].ShortName != "ada" {
		t.Fatalf("device users = %+v", u)
	}
}
