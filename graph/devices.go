package graph

import (
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"

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

// setBlocked blocks or unblocks a device; the audit event (and, when
// blocking, the push) is written in the same transaction.
func (r *Resolver) setBlocked(ctx context.Context, id string, blocked bool) (*store.Device, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	var d store.Device
	err = r.Store.InTx(ctx, func(tx pgx.Tx) error {
		d, err = r.Store.SetDeviceBlocked(ctx, tx, n, blocked, auth.FromContext(ctx).Actor())
		if err != nil || !blocked {
			return err
		}
		// Pushed so it connects now and hears the 401 that releases it.
		return r.pushInTx(ctx, tx, n)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("no device with id %s", id)
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// revealSecret opens one of a device's sealed secrets and records the reveal
// in the audit trail before returning it.
func (r *Resolver) revealSecret(ctx context.Context, d *store.Device, column string) (*string, error) {
	var secret *string
	err := r.Store.InTx(ctx, func(tx pgx.Tx) error {
		plain, err := r.Store.OpenDeviceSecret(ctx, tx, d.ID, column)
		if err != nil || plain == nil {
			return err
		}
		s := string(plain)
		secret = &s
		return store.WriteAudit(ctx, tx, store.AuditEvent{Actor: auth.FromContext(ctx).Actor(),
			Action: "device.reveal_secret", ObjectType: "enrolled_device", ObjectID: strconv.FormatInt(d.ID, 10),
			Data: map[string]any{"secret": column, "udid": d.UDID}})
	})
	return secret, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
