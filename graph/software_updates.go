package graph

import (
	"context"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

const softwareUpdateCursor = "softwareupdate"

func (r *Resolver) softwareUpdates(ctx context.Context, filter *model.SoftwareUpdateFilter, first *int, after *string) (*model.SoftwareUpdateConnection, error) {
	p, err := page(softwareUpdateCursor, first, after)
	if err != nil {
		return nil, err
	}
	f, err := softwareUpdateFilter(filter)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListSoftwareUpdates(ctx, f, p)
	if err != nil {
		return nil, err
	}
	conn := &model.SoftwareUpdateConnection{Filter: f}
	conn.Edges, conn.PageInfo = edges(softwareUpdateCursor, list, more, func(n *store.SoftwareUpdate) int64 { return n.ID },
		func(cursor string, n *store.SoftwareUpdate) *model.SoftwareUpdateEdge {
			return &model.SoftwareUpdateEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func softwareUpdateFilter(in *model.SoftwareUpdateFilter) (store.SoftwareUpdateFilter, error) {
	var f store.SoftwareUpdateFilter
	if in == nil {
		return f, nil
	}
	f.Platform, f.Public = deref(in.Platform), in.Public
	if len(f.Platform) > 32 {
		return f, BadInput("platform is at most 32 characters")
	}
	if in.AvailableForDeviceID != nil {
		id, err := parseID("device", *in.AvailableForDeviceID)
		if err != nil {
			return f, err
		}
		f.AvailableForDeviceID = id
	}
	return f, nil
}

func (r *Resolver) availableSoftwareUpdates(ctx context.Context, d *store.Device) ([]*store.SoftwareUpdate, error) {
	list, err := r.Store.AvailableSoftwareUpdates(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*store.SoftwareUpdate, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out, nil
}

func (r *Resolver) syncSoftwareUpdates(ctx context.Context) (*rivertype.JobRow, error) {
	return r.Service.SyncSoftwareUpdates(ctx, auth.FromContext(ctx).Actor())
}

func (r *Resolver) setSoftwareUpdateEnforcement(ctx context.Context, blueprintID string, in model.SoftwareUpdateEnforcementInput) (*model.SoftwareUpdateEnforcement, error) {
	id, err := parseID("blueprint", blueprintID)
	if err != nil {
		return nil, err
	}
	e, err := r.Service.SetSoftwareUpdateEnforcement(ctx, auth.FromContext(ctx).Actor(), id, service.EnforcementInput{
		Platform: in.Platform, OSVersion: deref(in.OsVersion), BuildVersion: deref(in.BuildVersion),
		TargetLocalDateTime: deref(in.TargetLocalDateTime), LatestMinusDays: in.LatestMinusDays,
		LocalTime: deref(in.LocalTime), DetailsURL: deref(in.DetailsURL)})
	if err != nil {
		return nil, err
	}
	return model.NewSoftwareUpdateEnforcement(e), nil
}

func (r *Resolver) removeSoftwareUpdateEnforcement(ctx context.Context, blueprintID, platform string) (bool, error) {
	id, err := parseID("blueprint", blueprintID)
	if err != nil {
		return false, err
	}
	return r.Service.RemoveSoftwareUpdateEnforcement(ctx, auth.FromContext(ctx).Actor(), id, platform)
}

func (r *Resolver) softwareUpdateEnforcements(ctx context.Context, b *store.Blueprint) ([]*model.SoftwareUpdateEnforcement, error) {
	list, err := r.Store.SoftwareUpdateEnforcements(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.SoftwareUpdateEnforcement, len(list))
	for i, e := range list {
		out[i] = model.NewSoftwareUpdateEnforcement(e)
	}
	return out, nil
}

func dateString(t time.Time) string { return t.Format(time.DateOnly) }

func optionalDate(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := dateString(*t)
	return &s
}
