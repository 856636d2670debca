package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Blueprint returns one blueprint.
func (q *Queries) Blueprint(ctx context.Context, id int64) (Blueprint, error) {
	b, err := scanBlueprint(q.db.QueryRow(ctx, "SELECT "+blueprintColumns+" FROM blueprints WHERE id = $1", id))
	if err != nil {
		return b, fmt.Errorf("blueprint %d: %w", id, err)
	}
	return b, nil
}

// BlueprintForUpdate returns one blueprint, locked until the transaction ends.
func (q *Queries) BlueprintForUpdate(ctx context.Context, id int64) (Blueprint, error) {
	b, err := scanBlueprint(q.db.QueryRow(ctx, "SELECT "+blueprintColumns+" FROM blueprints WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return b, fmt.Errorf("blueprint %d: %w", id, err)
	}
	return b, nil
}

// UpdateBlueprint replaces a blueprint's name and settings; ErrNotFound
// when it does not exist, ErrConflict when the name is another's.
func (q *Queries) UpdateBlueprint(ctx context.Context, id int64, name string, s BlueprintSettings) (Blueprint, error) {
	b, err := scanBlueprint(q.db.QueryRow(ctx, `UPDATE blueprints SET name = $2, inventory_interval_seconds = $3,
			collect_apps = $4, collect_certificates = $5, collect_profiles = $6, recovery_password = $7,
			recovery_password_rotation_days = NULLIF($8, 0), filevault = $9, updated_at = now()
		WHERE id = $1 RETURNING `+blueprintColumns, id, name, int(s.InventoryInterval/time.Second),
		s.CollectApps, s.CollectCertificates, s.CollectProfiles, s.RecoveryPassword, s.RecoveryPasswordRotationDays, s.FileVault))
	switch {
	case isUniqueViolation(err):
		return b, fmt.Errorf("blueprint %q: %w", name, ErrConflict)
	case err != nil:
		return b, fmt.Errorf("update blueprint %d: %w", id, err)
	}
	return b, nil
}

// BlueprintUse counts what still points at a blueprint.
type BlueprintUse struct {
	Devices, Enrollments, DEPProfiles int
}

// InUse reports whether anything points at the blueprint.
func (u BlueprintUse) InUse() bool { return u.Devices+u.Enrollments+u.DEPProfiles > 0 }

// DeleteBlueprint deletes a blueprint nothing uses, locking it first so no
// assignment slips in between the count and the delete. When something uses
// it, nothing is deleted and the use is returned with ErrBlueprintInUse.
func (q *Queries) DeleteBlueprint(ctx context.Context, id int64) (BlueprintUse, error) {
	var u BlueprintUse
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		var found int64
		err := tx.QueryRow(ctx, "SELECT id FROM blueprints WHERE id = $1 FOR UPDATE", id).Scan(&found)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("blueprint %d: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM enrolled_devices WHERE blueprint_id = $1),
			(SELECT count(*) FROM mdm_enrollments WHERE blueprint_id = $1),
			(SELECT count(*) FROM dep_profiles WHERE blueprint_id = $1)`, id).Scan(&u.Devices, &u.Enrollments, &u.DEPProfiles)
		if err != nil {
			return fmt.Errorf("blueprint %d use: %w", id, err)
		}
		if u.InUse() {
			return ErrBlueprintInUse
		}
		_, err = tx.Exec(ctx, "DELETE FROM blueprints WHERE id = $1", id)
		return err
	})
	return u, err
}

// ErrBlueprintInUse: devices, enrollments or DEP profiles use the blueprint.
var ErrBlueprintInUse = errors.New("blueprint in use")

// AssignBlueprint sets the blueprint of devices, locking the blueprint row
// (FOR SHARE) so a concurrent delete cannot leave devices pointing at
// nothing. missing lists the ids that match no device; then nothing changes.
func (q *Queries) AssignBlueprint(ctx context.Context, blueprintID int64, deviceIDs []int64) (missing []int64, err error) {
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		var found int64
		err := tx.QueryRow(ctx, "SELECT id FROM blueprints WHERE id = $1 FOR SHARE", blueprintID).Scan(&found)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("blueprint %d: %w", blueprintID, ErrNotFound)
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT x FROM unnest($1::bigint[]) x
			WHERE NOT EXISTS (SELECT 1 FROM enrolled_devices d WHERE d.id = x) ORDER BY x`, deviceIDs)
		if err != nil {
			return err
		}
		if missing, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil || len(missing) > 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE enrolled_devices SET blueprint_id = $1, updated_at = now()
			WHERE id = ANY($2) AND blueprint_id IS DISTINCT FROM $1`, blueprintID, deviceIDs)
		return err
	})
	return missing, err
}
