package endpoint_test

import (
	"context"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// queue adds a command for a device the way the GraphQL mutation does.
func (ts *testServer) queue(deviceID int64, requestType string, payload map[string]any) string {
	ts.t.Helper()
	uuid, body, err := mdmproto.NewCommand(requestType, payload)
	if err != nil {
		ts.t.Fatal(err)
	}
	err = ts.store.Tx(context.Background(), func(q *store.Queries) error {
		_, err := q.QueueCommand(context.Background(), store.QueuedCommand{DeviceID: deviceID, UUID: uuid,
			RequestType: requestType, Body: body, Actor: "test"})
		return err
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return uuid
}

func TestEnrollAndAnswerDeviceInformation(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	row := ts.deviceRow(d.UDID)
	if row.SerialNumber != d.SerialNumber || row.Platform != "macOS" || row.AppleSilicon {
		t.Fatalf("after Authenticate: %+v", row)
	}
	ts.queue(row.ID, "DeviceInformation", map[string]any{"Queries": []any{"DeviceName", "OSVersion"}})
	d.DeviceName, d.OSVersion = "Renamed Mac", "15.1"
	n, err := d.Connect(ctx)
	if err != nil || n != 1 {
		t.Fatalf("connect: answered %d commands, err %v", n, err)
	}
	row = ts.deviceRow(d.UDID)
	if row.Name != "Renamed Mac" || row.OSVersion != "15.1" || !row.AppleSilicon || !row.Supervised {
		t.Fatalf("after DeviceInformation: %+v", row)
	}
}
