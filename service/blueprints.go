package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/store"
)

// Bounds of a blueprint's settings.
const (
	MinInventoryInterval = 4 * time.Hour
	MaxInventoryInterval = 7 * 24 * time.Hour
	// MaxAssignDevices bounds one assignBlueprint.
	MaxAssignDevices = 1000
	// MaxRecoveryPasswordRotationDays bounds the rotation setting (10 years).
	MaxRecoveryPasswordRotationDays = 3650
)

// BlueprintInput is a blueprint's name and settings, as a caller sent them.
type BlueprintInput struct {
	Name string
	store.BlueprintSettings
}

// check trims the name and checks every setting; a zero setting takes its
// default.
func (in *BlueprintInput) check() error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		return invalid("a blueprint name must be 1 to 200 characters")
	}
	def := store.DefaultBlueprintSettings()
	if in.InventoryInterval == 0 {
		in.InventoryInterval = def.InventoryInterval
	}
	if in.InventoryInterval < MinInventoryInterval || in.InventoryInterval > MaxInventoryInterval {
		return invalid("inventoryInterval must be 4 hours to 7 days (14400 to 604800 seconds), not %d seconds",
			int64(in.InventoryInterval/time.Second))
	}
	levels := []string{store.CollectNo, store.CollectManagedOnly, store.CollectAll}
	for _, c := range []struct {
		name  string
		value *string
	}{{"collectApps", &in.CollectApps}, {"collectCertificates", &in.CollectCertificates}, {"collectProfiles", &in.CollectProfiles}} {
		if *c.value == "" {
			*c.value = store.CollectNo
		}
		if !slices.Contains(levels, *c.value) {
			return invalid("%s must be NO, MANAGED_ONLY or ALL", c.name)
		}
	}
	if in.FileVault == "" {
		in.FileVault = store.FileVaultOff
	}
	if in.FileVault != store.FileVaultOff && in.FileVault != store.FileVaultEscrow {
		return invalid("fileVault must be OFF or ESCROW")
	}
	if d := in.RecoveryPasswordRotationDays; d < 0 || d > MaxRecoveryPasswordRotationDays {
		return invalid("recoveryPasswordRotationDays must be 1 to %d, or 0 for no rotation", MaxRecoveryPasswordRotationDays)
	}
	return nil
}

func blueprintEvent(action string, b store.Blueprint) event {
	return event{action: action, objectType: "blueprint", objectID: idString(b.ID), data: map[string]any{
		"name": b.Name, "inventory_interval_seconds": int64(b.InventoryInterval / time.Second),
		"collect_apps": b.CollectApps, "collect_certificates": b.CollectCertificates, "collect_profiles": b.CollectProfiles,
		"recovery_password": b.RecoveryPassword, "recovery_password_rotation_days": b.RecoveryPasswordRotationDays,
		"filevault": b.FileVault}}
}

// CreateBlueprint makes a blueprint with a unique name and the default settings.
func (s *Service) CreateBlueprint(ctx context.Context, actor, name string) (store.Blueprint, error) {
	return s.CreateBlueprintWith(ctx, actor, BlueprintInput{Name: name})
}

// CreateBlueprintWith makes a blueprint with a unique name and its settings.
func (s *Service) CreateBlueprintWith(ctx context.Context, actor string, in BlueprintInput) (store.Blueprint, error) {
	var b store.Blueprint
	if err := in.check(); err != nil {
		return b, err
	}
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		if b, err = q.InsertBlueprint(ctx, in.Name, in.BlueprintSettings); errors.Is(err, store.ErrConflict) {
			return invalid("a blueprint named %q already exists", in.Name)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, blueprintEvent("blueprint.create", b))
	})
	return b, err
}

// BlueprintPatch is a blueprint's changed settings: nil keeps the current value.
type BlueprintPatch struct {
	Name                                              *string
	InventoryInterval                                 *time.Duration
	CollectApps, CollectCertificates, CollectProfiles *string
	RecoveryPassword                                  *bool
	RecoveryPasswordRotationDays                      *int
	FileVault                                         *string
}

func (p BlueprintPatch) apply(b store.Blueprint) BlueprintInput {
	in := BlueprintInput{Name: b.Name, BlueprintSettings: b.BlueprintSettings}
	set(&in.Name, p.Name)
	set(&in.InventoryInterval, p.InventoryInterval)
	set(&in.CollectApps, p.CollectApps)
	set(&in.CollectCertificates, p.CollectCertificates)
	set(&in.CollectProfiles, p.CollectProfiles)
	set(&in.RecoveryPassword, p.RecoveryPassword)
	set(&in.RecoveryPasswordRotationDays, p.RecoveryPasswordRotationDays)
	set(&in.FileVault, p.FileVault)
	if p.InventoryInterval != nil && *p.InventoryInterval == 0 {
		in.InventoryInterval = -1 // an explicit 0 is out of range, not "default"
	}
	return in
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// UpdateBlueprint changes a blueprint's name and settings. Its devices
// follow the new settings from the next inventory run on.
func (s *Service) UpdateBlueprint(ctx context.Context, actor string, id int64, p BlueprintPatch) (store.Blueprint, error) {
	var b store.Blueprint
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		cur, err := q.BlueprintForUpdate(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no blueprint with id %d", id)
		} else if err != nil {
			return err
		}
		in := p.apply(cur)
		if err := in.check(); err != nil {
			return err
		}
		b, err = q.UpdateBlueprint(ctx, id, in.Name, in.BlueprintSettings)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("no blueprint with id %d", id)
		case errors.Is(err, store.ErrConflict):
			return invalid("a blueprint named %q already exists", in.Name)
		case err != nil:
			return err
		}
		if err := s.audit(ctx, q, actor, blueprintEvent("blueprint.update", b)); err != nil {
			return err
		}
		return s.escrowTurnedOnInTx(ctx, q, actor, cur, b)
	})
	return b, err
}

// DeleteBlueprint deletes a blueprint no device, enrollment or DEP profile
// uses; otherwise it says what uses it and deletes nothing.
func (s *Service) DeleteBlueprint(ctx context.Context, actor string, id int64) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		u, err := q.DeleteBlueprint(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("no blueprint with id %d", id)
		case errors.Is(err, store.ErrBlueprintInUse):
			return invalid("blueprint %d is in use by %d devices, %d enrollments and %d DEP profiles: "+
				"assign them another blueprint first", id, u.Devices, u.Enrollments, u.DEPProfiles)
		case err != nil:
			return err
		}
		return s.audit(ctx, q, actor, event{action: "blueprint.delete", objectType: "blueprint", objectID: idString(id)})
	})
}

// AssignBlueprint makes devices follow a blueprint: all of them or, when
// one id is unknown, none. One audit event records the whole assignment.
func (s *Service) AssignBlueprint(ctx context.Context, actor string, blueprintID int64, deviceIDs []int64) error {
	ids := slices.Clone(deviceIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 || len(deviceIDs) > MaxAssignDevices {
		return invalid("assign 1 to %d devices at once, not %d", MaxAssignDevices, len(deviceIDs))
	}
	return s.store.Tx(ctx, func(q *store.Queries) error {
		moved, missing, err := q.AssignBlueprint(ctx, blueprintID, ids)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("no blueprint with id %d", blueprintID)
		case err != nil:
			return err
		case len(missing) > 0:
			return notFound("no device with id %d (%d of the ids are unknown): nothing was assigned", missing[0], len(missing))
		}
		if err := s.blueprintJoinedInTx(ctx, q, actor, blueprintID, moved); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "blueprint.assign", objectType: "blueprint", objectID: idString(blueprintID),
			data: map[string]any{"device_ids": ids}})
	})
}
