package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

func (r *Resolver) locations(ctx context.Context, f *model.LocationFilter) ([]*store.Location, error) {
	var filter store.LocationFilter
	if f != nil {
		filter = store.LocationFilter{Name: deref(f.Name), OrganizationName: deref(f.OrganizationName)}
	}
	list, err := r.Store.ListLocations(ctx, filter)
	return pointers(list), err
}

func (r *Resolver) location(ctx context.Context, id string) (*store.Location, error) {
	n, err := parseID("location", id)
	if err != nil {
		return nil, err
	}
	l, err := r.Store.Location(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return &l, err
}

func (r *Resolver) locationAssets(ctx context.Context, f *model.LocationAssetFilter, first *int, after *string) ([]*store.LocationAsset, error) {
	filter := store.LocationAssetFilter{First: 100}
	if first != nil {
		if *first < 1 || *first > 1000 {
			return nil, BadInput("first must be 1 to 1000")
		}
		filter.First = *first
	}
	if after != nil {
		n, err := parseID("location asset", *after)
		if err != nil {
			return nil, err
		}
		filter.After = n
	}
	if f != nil {
		filter.AdamID, filter.PricingParam = deref(f.AdamID), deref(f.PricingParam)
		if f.LocationID != nil {
			n, err := parseID("location", *f.LocationID)
			if err != nil {
				return nil, err
			}
			filter.LocationID = n
		}
	}
	list, err := r.Store.ListLocationAssets(ctx, filter)
	return pointers(list), err
}

func (r *Resolver) locationOfAsset(ctx context.Context, a *store.LocationAsset) (*store.Location, error) {
	l, err := r.loadersFrom(ctx).location.Load(ctx, a.LocationID)
	if err == nil && l == nil {
		err = fmt.Errorf("location %d: %w", a.LocationID, store.ErrNotFound)
	}
	return l, err
}

func (r *Resolver) uploadLocationToken(ctx context.Context, id *string, file *graphql.Upload, content *string) (*store.Location, error) {
	var renew *int64
	if id != nil {
		n, err := parseID("location", *id)
		if err != nil {
			return nil, err
		}
		renew = &n
	}
	data, err := tokenFile(file, content)
	if err != nil {
		return nil, err
	}
	l, err := r.Service.UploadLocationToken(ctx, auth.FromContext(ctx).Actor(), renew, data)
	return &l, err
}

func (r *Resolver) deleteLocation(ctx context.Context, id string) (string, error) {
	n, err := parseID("location", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteLocation(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) syncLocation(ctx context.Context, id string) (*rivertype.JobRow, error) {
	n, err := parseID("location", id)
	if err != nil {
		return nil, err
	}
	return r.Service.SyncLocation(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) assignAsset(ctx context.Context, assetID string, deviceIDs []string, associate bool) (*rivertype.JobRow, error) {
	n, err := parseID("location asset", assetID)
	if err != nil {
		return nil, err
	}
	if len(deviceIDs) > service.MaxLicenceDevices {
		return nil, BadInput("at most %d devices at once", service.MaxLicenceDevices)
	}
	ids := make([]int64, len(deviceIDs))
	for i, d := range deviceIDs {
		if ids[i], err = parseID("device", d); err != nil {
			return nil, err
		}
	}
	return r.Service.AssignAsset(ctx, auth.FromContext(ctx).Actor(), n, ids, associate)
}
