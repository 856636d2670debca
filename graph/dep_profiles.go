package graph

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"

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

// depProfileFields checks the input and turns it into Apple's fields.
func depProfileFields(in model.DEPProfileInput) (dep.Profile, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 255 {
		return dep.Profile{}, BadInput("a DEP profile needs a name of 1 to 255 characters")
	}
	flag := func(b *bool, def bool) bool {
		if b == nil {
			return def
		}
		return *b
	}
	p := dep.Profile{
		ProfileName: name, IsSupervised: flag(in.IsSupervised, true), IsMandatory: flag(in.IsMandatory, false),
		IsMDMRemovable: flag(in.IsMdmRemovable, true), AwaitDeviceConfigured: flag(in.AwaitDeviceConfigured, false),
		AutoAdvanceSetup: flag(in.AutoAdvanceSetup, false), IsMultiUser: flag(in.IsMultiUser, false),
		AllowPairing: flag(in.AllowPairing, true), SkipSetupItems: in.SkipSetupItems,
		Department: deref(in.Department), SupportPhoneNumber: deref(in.SupportPhoneNumber),
		SupportEmailAddress: deref(in.SupportEmailAddress), OrgMagic: deref(in.OrgMagic),
		Language: deref(in.Language), Region: deref(in.Region), AnchorCerts: in.AnchorCerts,
		SupervisingHostCerts: in.SupervisingHostCerts,
	}
	for field, certs := range map[string][]string{"anchorCerts": p.AnchorCerts, "supervisingHostCerts": p.SupervisingHostCerts} {
		if err := checkDERCertificates(field, certs); err != nil {
			return p, err
		}
	}
	if !p.IsSupervised && !p.IsMDMRemovable {
		// Apple accepts it, but an unsupervised device cannot be kept from removing MDM.
		return p, BadInput("isMdmRemovable false needs isSupervised true")
	}
	return p, nil
}

// checkDERCertificates refuses what Apple would: certificates that are not
// base64 DER.
func checkDERCertificates(field string, certs []string) error {
	for i, c := range certs {
		der, err := base64.StdEncoding.DecodeString(c)
		if err == nil {
			_, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return BadInput("%s[%d] is not a base64 DER certificate", field, i)
		}
	}
	return nil
}

// nameTaken reports whether another profile of the server has this name,
// checked before Apple or the enrollments are touched.
func (r *Resolver) nameTaken(ctx context.Context, serverID, profileID int64, name string) (bool, error) {
	profiles, err := r.Store.ListDEPProfiles(ctx, serverID)
	if err != nil {
		return false, err
	}
	for _, p := range profiles {
		if p.Name == name && p.ID != profileID {
			return true, nil
		}
	}
	return false, nil
}

// saveDEPProfile defines the profile with Apple first and stores it only
// when Apple accepted it, with the UUID Apple gave.
func (r *Resolver) saveDEPProfile(ctx context.Context, id *string, in model.DEPProfileInput) (*model.DEPProfile, error) {
	fields, err := depProfileFields(in)
	if err != nil {
		return nil, err
	}
	var existing store.DEPProfile
	var serverID int64
	if id != nil {
		n, err := parseID("DEP profile", *id)
		if err != nil {
			return nil, err
		}
		if existing, err = r.Store.DEPProfile(ctx, n); errors.Is(err, store.ErrNotFound) {
			return nil, NotFound("no DEP profile with id %s", *id)
		} else if err != nil {
			return nil, err
		}
		serverID = existing.VirtualServerID
	} else if serverID, err = parseID("DEP virtual server", in.VirtualServerID); err != nil {
		return nil, err
	}
	vs, c, err := r.depClient(ctx, serverID)
	if err != nil {
		return nil, err
	}
	if taken, err := r.nameTaken(ctx, vs.ID, existing.ID, fields.ProfileName); err != nil {
		return nil, err
	} else if taken {
		return nil, BadInput("a DEP profile named %q exists on this virtual server", fields.ProfileName)
	}
	if fields.URL, err = r.DEP.ProfileURL(ctx, fields.ProfileName); err != nil {
		return nil, err
	}
	def, err := c.DefineProfile(ctx, &fields)
	if err != nil {
		return nil, appleError(err)
	}
	saved, err := r.Store.SaveDEPProfile(ctx, store.DEPProfile{ID: existing.ID, VirtualServerID: vs.ID,
		Name: fields.ProfileName, Fields: fields, ProfileUUID: def.ProfileUUID, URL: fields.URL}, auth.FromContext(ctx).Actor())
	if errors.Is(err, store.ErrConflict) {
		return nil, BadInput("a DEP profile named %q exists on this virtual server", fields.ProfileName)
	}
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
	err = r.Store.DeleteDEPProfile(ctx, n, auth.FromContext(ctx).Actor())
	if errors.Is(err, store.ErrNotFound) {
		return "", NotFound("no DEP profile with id %s", id)
	}
	return id, err
}

func (r *Resolver) assignDEPProfile(ctx context.Context, id string, serials []string) ([]*model.DEPProfileResult, error) {
	if err := checkSerials(serials); err != nil {
		return nil, err
	}
	n, err := parseID("DEP profile", id)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.DEPProfile(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("no DEP profile with id %s", id)
	} else if err != nil {
		return nil, err
	}
	_, c, err := r.depClient(ctx, p.VirtualServerID)
	if err != nil {
		return nil, err
	}
	res, err := c.AssignProfile(ctx, p.ProfileUUID, serials)
	if err != nil {
		return nil, appleError(err)
	}
	if err := r.Store.SetDEPProfileStatus(ctx, res.Succeeded(), dep.ProfileAssigned, p.ProfileUUID, auth.FromContext(ctx).Actor()); err != nil {
		return nil, err
	}
	return profileResults(res.Devices), nil
}

func (r *Resolver) removeDEPProfile(ctx context.Context, serverID string, serials []string) ([]*model.DEPProfileResult, error) {
	if err := checkSerials(serials); err != nil {
		return nil, err
	}
	_, c, err := r.depClientFor(ctx, serverID)
	if err != nil {
		return nil, err
	}
	res, err := c.RemoveProfile(ctx, serials)
	if err != nil {
		return nil, appleError(err)
	}
	if err := r.Store.SetDEPProfileStatus(ctx, res.Succeeded(), dep.ProfileRemoved, "", auth.FromContext(ctx).Actor()); err != nil {
		return nil, err
	}
	return profileResults(res.Devices), nil
}
