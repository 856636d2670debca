package graph

import (
	"context"
	"time"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

const (
	appCursor           = "app"
	certificateCursor   = "certificate"
	deviceProfileCursor = "device_profile"
)

func (r *Resolver) inventoryUpdatedAt(ctx context.Context, d *store.Device) (*time.Time, error) {
	return r.Store.InventoryUpdatedAt(ctx, d.ID)
}

func (r *Resolver) installedApplications(ctx context.Context, d *store.Device, first *int, after *string) (*model.InstalledApplicationConnection, error) {
	p, err := page(appCursor, first, after)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListInstalledApplications(ctx, d.ID, p)
	if err != nil {
		return nil, err
	}
	conn := &model.InstalledApplicationConnection{DeviceID: d.ID}
	conn.Edges, conn.PageInfo = edges(appCursor, list, more, func(n *store.InstalledApplication) int64 { return n.ID },
		func(cursor string, n *store.InstalledApplication) *model.InstalledApplicationEdge {
			return &model.InstalledApplicationEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func (r *Resolver) deviceCertificates(ctx context.Context, d *store.Device, first *int, after *string) (*model.DeviceCertificateConnection, error) {
	p, err := page(certificateCursor, first, after)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListDeviceCertificates(ctx, d.ID, p)
	if err != nil {
		return nil, err
	}
	conn := &model.DeviceCertificateConnection{DeviceID: d.ID}
	conn.Edges, conn.PageInfo = edges(certificateCursor, list, more, func(n *store.DeviceCertificate) int64 { return n.ID },
		func(cursor string, n *store.DeviceCertificate) *model.DeviceCertificateEdge {
			return &model.DeviceCertificateEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func (r *Resolver) deviceProfiles(ctx context.Context, d *store.Device, first *int, after *string) (*model.DeviceProfileConnection, error) {
	p, err := page(deviceProfileCursor, first, after)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListDeviceProfiles(ctx, d.ID, p)
	if err != nil {
		return nil, err
	}
	conn := &model.DeviceProfileConnection{DeviceID: d.ID}
	conn.Edges, conn.PageInfo = edges(deviceProfileCursor, list, more, func(n *store.DeviceProfile) int64 { return n.ID },
		func(cursor string, n *store.DeviceProfile) *model.DeviceProfileEdge {
			return &model.DeviceProfileEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

// deviceCommandEvents streams command status changes from the broker. The
// status is the one the event carries (the command may have moved on: a
// subscriber still sees QUEUED, then SENT, then ACKNOWLEDGED); the command
// is read as it is now.
func (r *Resolver) deviceCommandEvents(ctx context.Context, deviceID *string, status *model.DeviceCommandStatus) (<-chan *model.DeviceCommandEvent, error) {
	var wantDevice int64
	if deviceID != nil {
		n, err := parseID("device", *deviceID)
		if err != nil {
			return nil, err
		}
		wantDevice = n
	}
	return subscribe(ctx, r.Events, events.TopicCommand, func(ev events.Event) (*model.DeviceCommandEvent, bool) {
		st := commandStatuses[ev.Type]
		if st == "" || (wantDevice != 0 && ev.DeviceID != wantDevice) || (status != nil && *status != st) {
			return nil, false
		}
		c, err := r.Store.CommandByID(ctx, ev.ID)
		if err != nil {
			return nil, false // deleted with its device, or ctx ended
		}
		return &model.DeviceCommandEvent{Status: st, Command: &c}, true
	}), nil
}
