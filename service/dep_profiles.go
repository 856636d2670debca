package service

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
)

// checkDEPProfile refuses what Apple would, and what would not do what the
// administrator means.
func checkDEPProfile(p *dep.Profile) error {
	p.ProfileName = strings.TrimSpace(p.ProfileName)
	if p.ProfileName == "" || len(p.ProfileName) > 255 {
		return invalid("a DEP profile needs a name of 1 to 255 characters")
	}
	for field, certs := range map[string][]string{"anchorCerts": p.AnchorCerts, "supervisingHostCerts": p.SupervisingHostCerts} {
		if err := checkDERCertificates(field, certs); err != nil {
			return err
		}
	}
	if !p.IsSupervised && !p.IsMDMRemovable {
		// Apple accepts it, but an unsupervised device cannot be kept from removing MDM.
		return invalid("isMdmRemovable false needs isSupervised true")
	}
	return nil
}

// checkDERCertificates refuses certificates that are not base64 DER.
func checkDERCertificates(field string, certs []string) error {
	for i, c := range certs {
		der, err := base64.StdEncoding.DecodeString(c)
		if err == nil {
			_, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return invalid("%s[%d] is not a base64 DER certificate", field, i)
		}
	}
	return nil
}

// CheckSerials bounds a list of serial numbers sent to Apple in one call.
func CheckSerials(serials []string) error {
	if len(serials) == 0 || len(serials) > dep.MaxPage {
		return invalid("give between 1 and %d serial numbers", dep.MaxPage)
	}
	for _, s := range serials {
		if s == "" {
			return invalid("serial numbers cannot be empty")
		}
	}
	return nil
}

// nameTaken reports whether another profile of the server has this name,
// checked before Apple or the enrollments are touched.
func (s *Service) nameTaken(ctx context.Context, serverID, profileID int64, name string) (bool, error) {
	profiles, err := s.store.ListDEPProfiles(ctx, serverID)
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

// SaveDEPProfile defines a profile with Apple first and stores it only when
// Apple accepted it, with the UUID Apple gave. profileID 0 creates one on
// serverID; otherwise the profile is updated on its own server.
func (s *Service) SaveDEPProfile(ctx context.Context, actor string, serverID, profileID int64, fields dep.Profile) (store.DEPProfile, error) {
	var saved store.DEPProfile
	if err := checkDEPProfile(&fields); err != nil {
		return saved, err
	}
	if profileID != 0 {
		existing, err := s.store.DEPProfile(ctx, profileID)
		if errors.Is(err, store.ErrNotFound) {
			return saved, notFound("no DEP profile with id %d", profileID)
		} else if err != nil {
			return saved, err
		}
		serverID = existing.VirtualServerID
	}
	vs, c, err := s.DEPClient(ctx, serverID)
	if err != nil {
		return saved, err
	}
	if taken, err := s.nameTaken(ctx, vs.ID, profileID, fields.ProfileName); err != nil {
		return saved, err
	} else if taken {
		return saved, invalid("a DEP profile named %q exists on this virtual server", fields.ProfileName)
	}
	if fields.URL, err = s.depProfileURL(ctx, fields.ProfileName); err != nil {
		return saved, err
	}
	def, err := c.DefineProfile(ctx, &fields)
	if err != nil {
		return saved, AppleRefusal(err)
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		saved, err = q.SaveDEPProfile(ctx, store.DEPProfile{ID: profileID, VirtualServerID: vs.ID,
			Name: fields.ProfileName, Fields: fields, ProfileUUID: def.ProfileUUID, URL: fields.URL})
		if errors.Is(err, store.ErrConflict) {
			return invalid("a DEP profile named %q exists on this virtual server", fields.ProfileName)
		} else if err != nil {
			return err
		}
		action := "dep_profile.update"
		if profileID == 0 {
			action = "dep_profile.create"
		}
		return s.audit(ctx, q, actor, event{action: action, objectType: "dep_profile", objectID: idString(saved.ID),
			data: map[string]any{"name": saved.Name, "profile_uuid": saved.ProfileUUID}})
	})
	return saved, err
}

// DeleteDEPProfile deletes orchard's record of a profile. Apple has no call to
// delete a profile: devices keep it until another is assigned or it is removed.
func (s *Service) DeleteDEPProfile(ctx context.Context, actor string, id int64) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		p, err := q.DeleteDEPProfile(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no DEP profile with id %d", id)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "dep_profile.delete", objectType: "dep_profile", objectID: idString(id),
			data: map[string]any{"name": p.Name, "profile_uuid": p.ProfileUUID}})
	})
}

// AssignDEPProfile asks Apple to assign a profile to devices and records
// what Apple accepted; the answer is Apple's result per serial number.
func (s *Service) AssignDEPProfile(ctx context.Context, actor string, profileID int64, serials []string) (map[string]string, error) {
	if err := CheckSerials(serials); err != nil {
		return nil, err
	}
	p, err := s.store.DEPProfile(ctx, profileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no DEP profile with id %d", profileID)
	} else if err != nil {
		return nil, err
	}
	_, c, err := s.DEPClient(ctx, p.VirtualServerID)
	if err != nil {
		return nil, err
	}
	res, err := c.AssignProfile(ctx, p.ProfileUUID, serials)
	if err != nil {
		return nil, AppleRefusal(err)
	}
	return res.Devices, s.RecordDEPProfileStatus(ctx, actor, res.Succeeded(), dep.ProfileAssigned, p.ProfileUUID)
}

// RemoveDEPProfile asks Apple to take devices' profiles away.
func (s *Service) RemoveDEPProfile(ctx context.Context, actor string, serverID int64, serials []string) (map[string]string, error) {
	if err := CheckSerials(serials); err != nil {
		return nil, err
	}
	_, c, err := s.DEPClient(ctx, serverID)
	if err != nil {
		return nil, err
	}
	res, err := c.RemoveProfile(ctx, serials)
	if err != nil {
		return nil, AppleRefusal(err)
	}
	return res.Devices, s.RecordDEPProfileStatus(ctx, actor, res.Succeeded(), dep.ProfileRemoved, "")
}

// RecordDEPProfileStatus stores what Apple accepted of an assignment or
// removal, a person's or the default-profile job's; the audit event records
// the request even when Apple accepted none of it.
func (s *Service) RecordDEPProfileStatus(ctx context.Context, actor string, serials []string, status, profileUUID string) error {
	action := "dep_device.assign_profile"
	if status != dep.ProfileAssigned {
		action = "dep_device.remove_profile"
	}
	return s.store.Tx(ctx, func(q *store.Queries) error {
		if len(serials) > 0 {
			if err := q.SetDEPProfileStatus(ctx, serials, status, profileUUID); err != nil {
				return err
			}
		}
		return s.audit(ctx, q, actor, event{action: action, objectType: "dep_profile", objectID: profileUUID,
			data: map[string]any{"serial_numbers": serials}})
	})
}
