package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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

// MovedDevice is a device an assignment moved into a blueprint it was not in.
type MovedDevice struct {
	ID       int64
	Platform string
	// Active: enrolled (past its TokenUpdate, whose transaction sets up a
	// device enrolling into its blueprint), neither blocked nor checked out.
	Active bool
	// MacWithoutEscrow: an active Mac whose former blueprint (if any) did
	// not escrow FileVault keys.
	MacWithoutEscrow bool
}

// assignSQL moves the devices not yet in the blueprint and says, of each,
// what its former blueprint left it without.
const assignSQL = `WITH moving AS (
		SELECT d.id, d.platform, d.token_updated AND d.blocked_at IS NULL AND d.checkout_at IS NULL AS active,
			d.platform = 'macOS' AND coalesce(b.filevault, 'OFF') <> 'ESCROW' AS mac_without_escrow
		FROM enrolled_devices d LEFT JOIN blueprints b ON b.id = d.blueprint_id
		WHERE d.id = ANY($2) AND d.blueprint_id IS DISTINCT FROM $1
		-- In id order: two assignments of overlapping devices lock them in
		-- the same order and never deadlock.
		ORDER BY d.id FOR UPDATE OF d)
	UPDATE enrolled_devices e SET blueprint_id = $1, updated_at = now() FROM moving WHERE e.id = moving.id
	RETURNING e.id, moving.platform, moving.active, moving.active AND moving.mac_without_escrow`

// AssignBlueprint sets the blueprint of devices, locking the blueprint row
// (FOR SHARE) so a concurrent delete cannot leave devices pointing at
// nothing, and returns the devices that were in another blueprint or none
// (ordered by id). missing lists the ids that match no device; then nothing
// changes.
func (q *Queries) AssignBlueprint(ctx context.Context, blueprintID int64, deviceIDs []int64) (moved []MovedDevice, missing []int64, err error) {
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
		rows, err = tx.Query(ctx, assignSQL, blueprintID, deviceIDs)
		if err != nil {
			return err
		}
		moved, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MovedDevice, error) {
			var m MovedDevice
			return m, r.Scan(&m.ID, &m.Platform, &m.Active, &m.MacWithoutEscrow)
		})
		slices.SortFunc(moved, func(a, b MovedDevice) int { return cmp.Compare(a.ID, b.ID) })
		return err
	})
	return moved, missing, err
}
