package service

import (
	"context"
	"errors"
	"slices"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// maxBlueprintProfiles bounds the profiles one blueprint lists.
const maxBlueprintProfiles = 200

// UploadProfile adds a configuration profile to the library. A signed one is
// verified and unwrapped; orchard signs what it sends with its own certificate.
func (s *Service) UploadProfile(ctx context.Context, actor string, raw []byte) (store.Profile, error) {
	parsed, err := mdmproto.ParseConfigProfile(raw)
	if err != nil {
		return store.Profile{}, invalid("%s", err)
	}
	var p store.Profile
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		p, err = q.CreateProfile(ctx, newProfile(parsed))
		if errors.Is(err, store.ErrConflict) {
			return invalid("a profile with identifier %q is in the library: replace it with updateProfile", parsed.Identifier)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, profileEvent("profile.create", &p))
	})
	return p, err
}

// UpdateProfile replaces a profile's content (same identifier); devices
// whose blueprint lists it get the new version.
func (s *Service) UpdateProfile(ctx context.Context, actor string, id int64, raw []byte) (store.Profile, error) {
	parsed, err := mdmproto.ParseConfigProfile(raw)
	if err != nil {
		return store.Profile{}, invalid("%s", err)
	}
	var p store.Profile
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		old, err := q.ProfileForUpdate(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no profile with id %d", id)
		} else if err != nil {
			return err
		}
		if old.Identifier != parsed.Identifier {
			return invalid("the upload's identifier %q is not the profile's (%q)", parsed.Identifier, old.Identifier)
		}
		if p = old; old.Hash == parsed.Hash {
			return nil // nothing changed: nothing to record or reinstall
		}
		if p, err = q.ReplaceProfile(ctx, id, newProfile(parsed)); err != nil {
			return err
		}
		if err := s.audit(ctx, q, actor, profileEvent("profile.update", &p)); err != nil {
			return err
		}
		return s.reconcileBlueprintsOf(ctx, q, id)
	})
	return p, err
}

// DeleteProfile removes a profile from the library, and from the devices
// orchard installed it on (the reconcile of each blueprint that listed it).
func (s *Service) DeleteProfile(ctx context.Context, actor string, id int64) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		p, err := q.ProfileForUpdate(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no profile with id %d", id)
		} else if err != nil {
			return err
		}
		blueprints, err := q.ProfileBlueprints(ctx, id)
		if err != nil {
			return err
		}
		if err := q.DeleteProfile(ctx, id); err != nil {
			return err
		}
		if err := s.audit(ctx, q, actor, profileEvent("profile.delete", &p)); err != nil {
			return err
		}
		return s.insertReconciles(ctx, q, blueprints)
	})
}

// SetBlueprintProfiles makes a blueprint list exactly these profiles and
// queues the reconcile of its devices.
func (s *Service) SetBlueprintProfiles(ctx context.Context, actor string, blueprintID int64, profileIDs []int64) ([]store.Profile, error) {
	ids := slices.Clone(profileIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > maxBlueprintProfiles {
		return nil, invalid("a blueprint lists at most %d profiles", maxBlueprintProfiles)
	}
	var list []store.Profile
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		found, err := q.BlueprintsByIDs(ctx, []int64{blueprintID})
		if err != nil {
			return err
		} else if len(found) == 0 || found[0] == nil {
			return notFound("no blueprint with id %d", blueprintID)
		}
		changed, err := q.SetBlueprintProfiles(ctx, blueprintID, ids)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("one of the profiles %v does not exist", ids)
		} else if err != nil {
			return err
		}
		if list, err = q.BlueprintProfiles(ctx, blueprintID); err != nil || !changed {
			return err
		}
		if err := s.audit(ctx, q, actor, event{action: "blueprint.set_profiles", objectType: "blueprint",
			objectID: idString(blueprintID), data: map[string]any{"profile_ids": ids}}); err != nil {
			return err
		}
		return s.insertReconciles(ctx, q, []int64{blueprintID})
	})
	return list, err
}

func (s *Service) reconcileBlueprintsOf(ctx context.Context, q *store.Queries, profileID int64) error {
	blueprints, err := q.ProfileBlueprints(ctx, profileID)
	if err != nil {
		return err
	}
	return s.insertReconciles(ctx, q, blueprints)
}

// insertReconciles queues a profile reconcile of each blueprint's devices,
// committed with the change that needs it.
func (s *Service) insertReconciles(ctx context.Context, q *store.Queries, blueprintIDs []int64) error {
	for _, id := range blueprintIDs {
		if _, err := s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.ProfileReconcile{BlueprintID: &id}, nil); err != nil {
			return err
		}
	}
	return s.blueprintsChanged(ctx, q, blueprintIDs)
}

func newProfile(p *mdmproto.ConfigProfile) store.NewProfile {
	np := store.NewProfile{Identifier: p.Identifier, PayloadUUID: p.UUID, DisplayName: p.DisplayName, Scope: p.Scope,
		Hash: p.Hash, PayloadTypes: p.PayloadTypes, Content: p.Content}
	if np.PayloadTypes == nil {
		np.PayloadTypes = []string{}
	}
	if p.Signer != nil {
		subject := p.Signer.Subject.String()
		np.Signer = &subject
	}
	return np
}

func profileEvent(action string, p *store.Profile) event {
	data := map[string]any{"identifier": p.Identifier, "content_hash": p.Hash, "payload_types": p.PayloadTypes}
	if p.Signer != nil {
		data["signer"] = *p.Signer
	}
	return event{action: action, objectType: "profile", objectID: idString(p.ID), data: data}
}
