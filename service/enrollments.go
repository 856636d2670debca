package service

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/store"
)

// EnrollmentInput is what a new over-the-air enrollment is made from.
type EnrollmentInput struct {
	Name        string
	BlueprintID *int64
	DEP         bool
	// ExpiresAt and MaxUses close the enrollment after a date or after it
	// issued that many identities; nil leaves it open.
	ExpiresAt *time.Time
	MaxUses   *int
}

func checkEnrollment(in *EnrollmentInput, now time.Time) error {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "" || len(in.Name) > 200:
		return invalid("an enrollment name must be 1 to 200 characters")
	case in.ExpiresAt != nil && !in.ExpiresAt.After(now):
		return invalid("expiresAt must be in the future")
	case in.MaxUses != nil && (*in.MaxUses < 1 || *in.MaxUses > math.MaxInt32):
		return invalid("maxUses must be between 1 and %d", math.MaxInt32)
	}
	return nil
}

// CreateEnrollment makes an enrollment; its secret (the profile URL's) is
// in the answer this once: orchard keeps only its hash.
func (s *Service) CreateEnrollment(ctx context.Context, actor string, in EnrollmentInput) (store.Enrollment, error) {
	var e store.Enrollment
	if err := checkEnrollment(&in, time.Now()); err != nil {
		return e, err
	}
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		e, err = q.CreateEnrollment(ctx, store.NewEnrollment{Name: in.Name, BlueprintID: in.BlueprintID, DEP: in.DEP,
			ExpiresAt: in.ExpiresAt, MaxUses: in.MaxUses})
		if errors.Is(err, store.ErrNotFound) {
			return invalid("no blueprint with id %d", *in.BlueprintID)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "enrollment.create", objectType: "mdm_enrollment",
			objectID: idString(e.ID), data: map[string]any{"name": e.Name, "blueprint_id": e.BlueprintID, "dep": e.DEP,
				"expires_at": e.ExpiresAt, "max_uses": e.MaxUses}})
	})
	return e, err
}

// DeleteEnrollment deletes an enrollment and revokes the identities it issued.
func (s *Service) DeleteEnrollment(ctx context.Context, actor string, id int64) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		name, revoked, err := q.DeleteEnrollment(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no enrollment with id %d", id)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "enrollment.delete", objectType: "mdm_enrollment", objectID: idString(id),
			data: map[string]any{"name": name, "revoked_certificates": revoked}})
	})
}

// AllowDeviceReenrollment lets a device bind a new identity once, within
// store.ReenrollmentWindow, though its current one is still valid.
func (s *Service) AllowDeviceReenrollment(ctx context.Context, actor string, id int64) (store.Device, error) {
	var d store.Device
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		udid, until, err := q.AllowReenrollment(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no device with id %d", id)
		} else if err != nil {
			return err
		}
		if d, err = q.Device(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "device.allow_reenrollment", objectType: "enrolled_device",
			objectID: idString(id), data: map[string]any{"udid": udid, "until": until}})
	})
	return d, err
}
