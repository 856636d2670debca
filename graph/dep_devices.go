package graph

import (
	"context"
	"sort"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

const depDeviceCursor = "depdevice"

var depProfileStatuses = map[string]bool{"empty": true, "assigned": true, "pushed": true, "removed": true}

var depOpTypes = map[string]bool{dep.OpAdded: true, dep.OpModified: true, dep.OpDeleted: true}

func (r *Resolver) depDevices(ctx context.Context, filter *model.DEPDeviceFilter, first *int, after *string) (*model.DEPDeviceConnection, error) {
	p, err := page(depDeviceCursor, first, after)
	if err != nil {
		return nil, err
	}
	f, err := depDeviceFilter(filter)
	if err != nil {
		return nil, err
	}
	devices, more, err := r.Store.ListDEPDevices(ctx, f, p)
	if err != nil {
		return nil, err
	}
	conn := &model.DEPDeviceConnection{Filter: f}
	conn.Edges, conn.PageInfo = edges(depDeviceCursor, devices, more, func(n *store.DEPDevice) int64 { return n.ID },
		func(cursor string, n *store.DEPDevice) *model.DEPDeviceEdge {
			return &model.DEPDeviceEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func depDeviceFilter(in *model.DEPDeviceFilter) (store.DEPDeviceFilter, error) {
	var f store.DEPDeviceFilter
	if in == nil {
		return f, nil
	}
	f.SerialNumber, f.ProfileStatus, f.OpType = deref(in.SerialNumber), deref(in.ProfileStatus), deref(in.OpType)
	if err := checkFilterTexts(map[string]string{"serialNumber": f.SerialNumber}); err != nil {
		return f, err
	}
	if f.ProfileStatus != "" && !depProfileStatuses[f.ProfileStatus] {
		return f, BadInput("profileStatus must be empty, assigned, pushed or removed")
	}
	if f.OpType != "" && !depOpTypes[f.OpType] {
		return f, BadInput("opType must be added, modified or deleted")
	}
	if in.VirtualServerID != nil {
		id, err := parseID("DEP virtual server", *in.VirtualServerID)
		if err != nil {
			return f, err
		}
		f.VirtualServerID = id
	}
	return f, nil
}

func (r *Resolver) depDeviceProfile(ctx context.Context, d *store.DEPDevice) (*model.DEPProfile, error) {
	if d.ProfileUUID == "" {
		return nil, nil
	}
	p, err := r.loadersFrom(ctx).dep.profileUUID.Load(ctx, d.ProfileUUID)
	return model.NewDEPProfile(p), err
}

func (r *Resolver) depDeviceDetails(ctx context.Context, serverID string, serials []string) ([]*model.DEPDeviceDetails, error) {
	if err := service.CheckSerials(serials); err != nil {
		return nil, err
	}
	c, err := r.depClientFor(ctx, serverID)
	if err != nil {
		return nil, err
	}
	found, err := c.DeviceDetails(ctx, serials)
	if err != nil {
		return nil, service.AppleRefusal(err)
	}
	out := make([]*model.DEPDeviceDetails, 0, len(serials))
	for _, serial := range serials {
		d, ok := found[serial]
		if !ok {
			d.ResponseStatus = dep.ResultNotAccessible
		}
		out = append(out, depDetails(serial, d))
	}
	return out, nil
}

func depDetails(serial string, d dep.Device) *model.DEPDeviceDetails {
	out := &model.DEPDeviceDetails{SerialNumber: serial, ResponseStatus: d.ResponseStatus,
		ProfileAssignTime: d.ProfileAssignTime, ProfilePushTime: d.ProfilePushTime, DeviceAssignedDate: d.DeviceAssignedDate}
	if d.ResponseStatus != dep.ResultSuccess {
		return out
	}
	out.Model, out.Description, out.Color, out.AssetTag = &d.Model, &d.Description, &d.Color, &d.AssetTag
	out.Os, out.DeviceFamily, out.ProfileStatus, out.ProfileUUID = &d.OS, &d.DeviceFamily, &d.ProfileStatus, &d.ProfileUUID
	out.DeviceAssignedBy = &d.DeviceAssignedBy
	return out
}

// profileResults turns Apple's per-device answers into a list in serial order.
func profileResults(m map[string]string) []*model.DEPProfileResult {
	out := make([]*model.DEPProfileResult, 0, len(m))
	for serial, res := range m {
		out = append(out, &model.DEPProfileResult{SerialNumber: serial, Result: res})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SerialNumber < out[j].SerialNumber })
	return out
}
