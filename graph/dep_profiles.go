package graph

import (
	"context"
	"errors"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
)

func (r *Resolver) depProfileByID(ctx context.Context, id *int64) (*model.DEPProfile, error) {
	if id == nil {
		return nil, nil
	}
	p, err := r.loadersFrom(ctx).dep.profile.Load(ctx, *id)
	return model.NewDEPProfile(p), err
}

func (r *Resolver) depProfiles(ctx context.Context, serverID *string) ([]*model.DEPProfile, error) {
	var sid int64
	if serverID != nil {
		n, err := parseID("DEP virtual server", *serverID)
		if err != nil {
			return nil, err
		}
		sid = n
	}
	list, err := r.Store.ListDEPProfiles(ctx, sid)
	if err != nil {
		return nil, err
	}
	out := make([]*model.DEPProfile, len(list))
	for i := range list {
		out[i] = model.NewDEPProfile(&list[i])
	}
	return out, nil
}

func (r *Resolver) depProfile(ctx context.Context, id string) (*model.DEPProfile, error) {
	n, err := parseID("DEP profile", id)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.DEPProfile(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return model.NewDEPProfile(&p), nil
}

// depProfileFields turns the input into Apple's fields, with orchard's
// defaults for what the input leaves out; the service checks them.
func depProfileFields(in model.DEPProfileInput) dep.Profile {
	flag := func(b *bool, def bool) bool {
		if b == nil {
			return def
		}
		return *b
	}
	return dep.Profile{
		ProfileName: in.Name, IsSupervised: flag(in.IsSupervised, true), IsMandatory: flag(in.IsMandatory, false),
		IsMDMRemovable: flag(in.IsMdmRemovable, true), AwaitDeviceConfigured: flag(in.AwaitDeviceConfigured, false),
		AutoAdvanceSetup: flag(in.AutoAdvanceSetup, false), IsMultiUser: flag(in.IsMultiUser, false),
		AllowPairing: flag(in.AllowPairing, true), SkipSetupItems: in.SkipSetupItems,
		Department: deref(in.Department), SupportPhoneNumber: deref(in.SupportPhoneNumber),
		SupportEmailAddress: deref(in.SupportEmailAddress), OrgMagic: deref(in.OrgMagic),
		Language: deref(in.Language), Region: deref(in.Region), AnchorCerts: in.AnchorCerts,
		SupervisingHostCerts: in.SupervisingHostCerts,
	}
}

func (r *Resolver) saveDEPProfile(ctx context.Context, id *string, in model.DEPProfileInput) (*model.DEPProfile, error) {
	var serverID, profileID int64
	var err error
	if id != nil {
		profileID, err = parseID("DEP profile", *id)
	} else {
		serverID, err = parseID("DEP virtual server", in.VirtualServerID)
	}
	if err != nil {
		return nil, err
	}
	saved, err := r.Service.SaveDEPProfile(ctx, auth.FromContext(ctx).Actor(), serverID, profileID, depProfileFields(in))
	if err != nil {
		return nil, err
	}
	return model.NewDEPProfile(&saved), nil
}

func (r *Resolver) deleteDEPProfile(ctx context.Context, id string) (string, error) {
	n, err := parseID("DEP profile", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteDEPProfile(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) assignDEPProfile(ctx context.Context, id string, serials []string) ([]*model.DEPProfileResult, error) {
	n, err := parseID("DEP profile", id)
	if err != nil {
		return nil, err
	}
	res, err := r.Service.AssignDEPProfile(ctx, auth.FromContext(ctx).Actor(), n, serials)
	return profileResults(res), err
}

func (r *Resolver) removeDEPProfile(ctx context.Context, serverID string, serials []string) ([]*model.DEPProfileResult, error) {
	n, err := parseID("DEP virtual server", serverID)
	if err != nil {
		return nil, err
	}
	res, err := r.Service.RemoveDEPProfile(ctx, auth.FromContext(ctx).Actor(), n, serials)
	return profileResults(res), err
}
