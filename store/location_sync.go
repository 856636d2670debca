package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

// LocationSyncCounts is what a finished sync changed.
type LocationSyncCounts struct {
	Assets, Removed, Assignments int
	// Replayed counts the assignment rows notifications received during
	// the sync changed again on top of the snapshot.
	Replayed int
}

// FinishLocationSync swaps a sync's staged pages in, in one transaction:
// assets are upserted, those Apple no longer lists deleted, the device
// assignments replaced (and the assignment notifications received since the
// sync began applied again), and the staging emptied.
func (q *Queries) FinishLocationSync(ctx context.Context, locationID, syncID int64, versionID string) (LocationSyncCounts, error) {
	var c LocationSyncCounts
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO location_assets AS la (location_id, adam_id, pricing_param, product_type, platforms,
				device_assignable, revocable, assigned_count, available_count, retired_count, total_count)
			SELECT location_id, adam_id, pricing_param, product_type, platforms, device_assignable, revocable,
				assigned_count, available_count, retired_count, total_count
			FROM location_sync_assets WHERE location_id = $1 AND sync_id = $2
			ON CONFLICT (location_id, adam_id, pricing_param) DO UPDATE SET product_type = EXCLUDED.product_type,
				platforms = EXCLUDED.platforms, device_assignable = EXCLUDED.device_assignable, revocable = EXCLUDED.revocable,
				assigned_count = EXCLUDED.assigned_count, available_count = EXCLUDED.available_count,
				retired_count = EXCLUDED.retired_count, total_count = EXCLUDED.total_count, updated_at = now()`, locationID, syncID)
		if err != nil {
			return fmt.Errorf("finish location sync: %w", err)
		}
		c.Assets = int(tag.RowsAffected())
		if tag, err = tx.Exec(ctx, `DELETE FROM location_assets la WHERE location_id = $1 AND NOT EXISTS (
				SELECT 1 FROM location_sync_assets s WHERE s.location_id = $1 AND s.sync_id = $2
					AND s.adam_id = la.adam_id AND s.pricing_param = la.pricing_param)`, locationID, syncID); err != nil {
			return fmt.Errorf("finish location sync: %w", err)
		}
		c.Removed = int(tag.RowsAffected())
		if c.Assignments, err = replaceAssignments(ctx, tx, locationID, syncID); err != nil {
			return err
		}
		if c.Replayed, err = q.with(tx).replayNotifications(ctx, locationID); err != nil {
			return err
		}
		if err := forgetOldNotifications(ctx, tx, locationID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE locations SET assets_version_id = $2, last_synced_at = now() WHERE id = $1`,
			locationID, versionID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM location_sync_assets WHERE location_id = $1", locationID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM location_sync_assignments WHERE location_id = $1", locationID)
		return err
	})
	return c, err
}

// replayNotifications applies again, in the order they came, the
// assignment changes Apple notified since the sync began: the snapshot just
// swapped in may predate them. It returns how many rows they changed.
func (q *Queries) replayNotifications(ctx context.Context, locationID int64) (int, error) {
	rows, err := q.db.Query(ctx, `SELECT n.management FROM location_notifications n JOIN locations l ON l.id = n.location_id
		WHERE n.location_id = $1 AND n.management IS NOT NULL AND n.received_at >= l.sync_started_at
		ORDER BY n.received_at, n.notification_id`, locationID)
	if err != nil {
		return 0, fmt.Errorf("replay notifications: %w", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return 0, fmt.Errorf("replay notifications: %w", err)
	}
	changed := 0
	for _, body := range bodies {
		var m appsbooks.AssetManagementNotification
		if json.Unmarshal(body, &m) != nil {
			continue
		}
		if associate, ok := m.Change(); ok {
			n, err := q.ApplyLocationAssignments(ctx, locationID, associate, m.Assignments)
			if err != nil {
				return changed, err
			}
			changed += n
		}
	}
	return changed, nil
}

// NotificationMemory is how long a location remembers a notification's id,
// so that Apple's retries of it are ignored.
const NotificationMemory = 30 * 24 * time.Hour

// forgetOldNotifications drops the bodies of notifications from before the
// sync began (its snapshot holds what they changed) and the ids of those
// older than NotificationMemory.
func forgetOldNotifications(ctx context.Context, tx pgx.Tx, locationID int64) error {
	if _, err := tx.Exec(ctx, `UPDATE location_notifications n SET management = NULL FROM locations l
		WHERE l.id = n.location_id AND n.location_id = $1 AND n.management IS NOT NULL
			AND n.received_at < l.sync_started_at`, locationID); err != nil {
		return fmt.Errorf("forget notifications: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM location_notifications WHERE location_id = $1 AND received_at < now() - $2::interval`,
		locationID, NotificationMemory); err != nil {
		return fmt.Errorf("forget notifications: %w", err)
	}
	return nil
}

func replaceAssignments(ctx context.Context, tx pgx.Tx, locationID, syncID int64) (int, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM location_asset_assignments WHERE location_asset_id IN (
			SELECT id FROM location_assets WHERE location_id = $1)`, locationID); err != nil {
		return 0, fmt.Errorf("finish location sync: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO location_asset_assignments (location_asset_id, serial_number)
		SELECT la.id, s.serial_number FROM location_sync_assignments s
		JOIN location_assets la ON la.location_id = s.location_id AND la.adam_id = s.adam_id AND la.pricing_param = s.pricing_param
		WHERE s.location_id = $1 AND s.sync_id = $2`, locationID, syncID)
	if err != nil {
		return 0, fmt.Errorf("finish location sync: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// RecordLocationNotification notes a notification id; false when it was
// already applied.
func (q *Queries) RecordLocationNotification(ctx context.Context, locationID int64, n appsbooks.Notification) (bool, error) {
	// An ASSET_MANAGEMENT body is kept for FinishLocationSync to apply again.
	var management []byte
	if n.NotificationType == appsbooks.NotifyAssetManagement && json.Valid(n.Notification) {
		management = n.Notification
	}
	tag, err := q.db.Exec(ctx, `INSERT INTO location_notifications (location_id, notification_id, notification_type, management)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, locationID, n.NotificationID, n.NotificationType, management)
	if err != nil {
		return false, fmt.Errorf("record notification: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// AddLocationAssetCount applies an ASSET_COUNT delta to the total and
// available counts; false when orchard does not know the asset yet.
func (q *Queries) AddLocationAssetCount(ctx context.Context, locationID int64, n appsbooks.AssetCountNotification) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE location_assets SET total_count = GREATEST(total_count + $4, 0),
			available_count = GREATEST(available_count + $4, 0), updated_at = now()
		WHERE location_id = $1 AND adam_id = $2 AND pricing_param = $3`, locationID, n.AdamID, n.PricingParam, n.CountDelta)
	if err != nil {
		return false, fmt.Errorf("asset count: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ApplyLocationAssignments records device assignments made (associate) or
// ended (disassociate, revoke), and moves the counts by what changed.
func (q *Queries) ApplyLocationAssignments(ctx context.Context, locationID int64, associate bool, as []appsbooks.Assignment) (int, error) {
	changed := 0
	for _, a := range as {
		if a.SerialNumber == "" {
			continue
		}
		sql := `WITH la AS (SELECT id FROM location_assets WHERE location_id = $1 AND adam_id = $2 AND pricing_param = $3),
			ch AS (INSERT INTO location_asset_assignments SELECT id, $4 FROM la ON CONFLICT DO NOTHING RETURNING location_asset_id)
			UPDATE location_assets SET assigned_count = assigned_count + 1, available_count = GREATEST(available_count - 1, 0),
				updated_at = now() WHERE id IN (SELECT location_asset_id FROM ch)`
		if !associate {
			sql = `WITH la AS (SELECT id FROM location_assets WHERE location_id = $1 AND adam_id = $2 AND pricing_param = $3),
			ch AS (DELETE FROM location_asset_assignments WHERE location_asset_id IN (SELECT id FROM la) AND serial_number = $4
				RETURNING location_asset_id)
			UPDATE location_assets SET assigned_count = GREATEST(assigned_count - 1, 0), available_count = available_count + 1,
				updated_at = now() WHERE id IN (SELECT location_asset_id FROM ch)`
		}
		tag, err := q.db.Exec(ctx, sql, locationID, a.AdamID, a.PricingParam, a.SerialNumber)
		if err != nil {
			return changed, fmt.Errorf("apply assignments: %w", err)
		}
		changed += int(tag.RowsAffected())
	}
	return changed, nil
}
