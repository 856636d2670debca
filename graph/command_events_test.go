package graph_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/store/events"
)

// Acceptance 5: a graphql-ws client sees a command go queued → sent →
// acknowledged while a simulated device runs it.
func TestDeviceCommandEventsQueuedSentAcknowledged(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := newTestAPI(t)
	tok := api.token("mdm.*")
	d, id := enrollEventsDevice(t, ctx, api, tok)

	sub := api.subscribe(ctx, tok, `subscription($id: ID) { deviceCommandEvents(deviceId: $id) { status command { uuid requestType } } }`,
		map[string]any{"id": id})
	var queued struct{ EnqueueDeviceCommand struct{ UUID string } }
	api.query(tok, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "ProfileList") { uuid } }`,
		map[string]any{"id": id}).decode(t, &queued)
	c, err := api.store.CommandRefByUUID(ctx, queued.EnqueueDeviceCommand.UUID)
	must(t, err)
	// The server registers the subscription asynchronously: announce the
	// queued state again until the subscriber has it, then run the command.
	first := make(chan struct{})
	go func() {
		for {
			select {
			case <-first:
				return
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
				_ = events.Publish(ctx, api.store.Pool(), events.Event{Topic: events.TopicCommand, Type: "Queued", ID: c.ID,
					Kind: c.RequestType, DeviceID: c.DeviceID})
			}
		}
	}()
	var seen []string
	for len(seen) < 3 {
		var ev struct {
			DeviceCommandEvents struct {
				Status  string
				Command struct{ UUID, RequestType string }
			}
		}
		sub.next(ctx).decode(t, &ev)
		e := ev.DeviceCommandEvents
		if e.Command.UUID != queued.EnqueueDeviceCommand.UUID || (len(seen) > 0 && seen[len(seen)-1] == e.Status) {
			continue
		}
		seen = append(seen, e.Status)
		if len(seen) == 1 {
			close(first)
			if _, err := d.Connect(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if seen[0] != "QUEUED" || seen[1] != "SENT" || seen[2] != "ACKNOWLEDGED" {
		t.Fatalf("events = %v", seen)
	}
}

// enrollEventsDevice enrolls a simulated device, reports its first inventory and returns it with its graph ID.
func enrollEventsDevice(t *testing.T, ctx context.Context, api *testAPI, tok string) (*devicesim.Device, string) {
	t.Helper()
	devSrv := api.deviceEndpoint()
	var created struct{ CreateEnrollment struct{ URL string } }
	api.query(tok, `mutation { createEnrollment(input: {name: "Events"}) { url } }`, nil).decode(t, &created)
	u, err := url.Parse(created.CreateEnrollment.URL)
	must(t, err)
	d, err := devicesim.New(devSrv.Client())
	must(t, err)
	must(t, d.Enroll(ctx, devSrv.URL+u.Path))
	var list devicePage
	api.query(tok, deviceQuery, map[string]any{"filter": map[string]any{"udid": d.UDID}}).decode(t, &list)
	id := list.Devices.Edges[0].Node.ID
	if _, err := d.Connect(ctx); err != nil { // the first inventory
		t.Fatal(err)
	}
	return d, id
}
