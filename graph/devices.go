package graph

import (
	"context"
	"errors"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
)

const deviceCursor = "device"

func (r *Resolver) listDevices(ctx context.Context, filter *model.DeviceFilter, first *int, after *string) (*model.DeviceConnection, error) {
	p, err := page(deviceCursor, first, after)
	if err != nil {
		return nil, err
	}
	f := deviceFilter(filter)
	devices, more, err := r.Store.ListDevices(ctx, f, p)
	if err != nil {
		return nil, err
	}
	conn := &model.DeviceConnection{Filter: f}
	conn.Edges, conn.PageInfo = edges(deviceCursor, devices, more, func(n *store.Device) int64 { return n.ID },
		func(cursor string, n *store.Device) *model.DeviceEdge {
			return &model.DeviceEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func deviceFilter(in *model.DeviceFilter) store.DeviceFilter {
	var f store.DeviceFilter
	if in == nil {
		return f
	}
	f.SerialNumber = deref(in.SerialNumber)
	f.UDID = deref(in.Udid)
	f.Platform = deref(in.Platform)
	f.Search = deref(in.Search)
	f.Blocked = in.Blocked
	return f
}

func (r *Resolver) device(ctx context.Context, id string) (*store.Device, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	d, err := r.Store.Device(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (r *Resolver) setBlocked(ctx context.Context, id string, blocked bool) (*store.Device, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	d, err := r.Service.SetDeviceBlocked(ctx, auth.FromContext(ctx).Actor(), n, blocked)
	return &d, err
}

func (r *Resolver) revealSecret(ctx context.Context, d *store.Device, column string) (*string, error) {
	plain, err := r.Service.RevealDeviceSecret(ctx, auth.FromContext(ctx).Actor(), d, column)
	if err != nil || plain == nil {
		return nil, err
	}
	s := string(plain)
	return &s, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *Resolver) deleteDevice(ctx context.Context, id string) (string, error) {
	n, err := parseID("device", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteDevice(ctx, auth.FromContext(ctx).Actor(), n)
}
