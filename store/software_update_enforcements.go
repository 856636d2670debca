package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LocalDateTimeLayout is Apple's TargetLocalDateTime: RFC 3339 without a zone.
const LocalDateTimeLayout = "2006-01-02T15:04:05"

// SoftwareUpdateEnforcement is what a blueprint enforces on its devices of
// one platform: a specific release (OSVersion set) or the latest release
// once it is LatestMinusDays old (LatestMinusDays set).
type SoftwareUpdateEnforcement struct {
	BlueprintID         int64
	Platform            string
	OSVersion           string
	BuildVersion        string
	TargetLocalDateTime *time.Time
	LatestMinusDays     *int
	// LocalTime is hh:mm, the deadline's time of day for LatestMinusDays.
	LocalTime  string
	DetailsURL string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const enforcementColumns = `blueprint_id, platform, os_version, build_version, target_local_datetime,
	latest_minus_days, to_char(local_time, 'HH24:MI'), details_url, created_at, updated_at`

func scanEnforcement(row pgx.Row) (SoftwareUpdateEnforcement, error) {
	var e SoftwareUpdateEnforcement
	err := row.Scan(&e.BlueprintID, &e.Platform, &e.OSVersion, &e.BuildVersion, &e.TargetLocalDateTime,
		&e.LatestMinusDays, &e.LocalTime, &e.DetailsURL, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// PutSoftwareUpdateEnforcement sets a blueprint's enforcement for a platform,
// replacing the one set; ErrNotFound when the blueprint does not exist.
func (q *Queries) PutSoftwareUpdateEnforcement(ctx context.Context, e SoftwareUpdateEnforcement) (SoftwareUpdateEnforcement, error) {
	return scanEnforcement(q.db.QueryRow(ctx, `INSERT INTO software_update_enforcements (blueprint_id, platform,
			os_version, build_version, target_local_datetime, latest_minus_days, local_time, details_url)
		SELECT $1, $2, $3, $4, $5, $6, $7::time, $8 FROM blueprints WHERE id = $1 FOR SHARE
		ON CONFLICT (blueprint_id, platform) DO UPDATE SET os_version = EXCLUDED.os_version,
			build_version = EXCLUDED.build_version, target_local_datetime = EXCLUDED.target_local_datetime,
			latest_minus_days = EXCLUDED.latest_minus_days, local_time = EXCLUDED.local_time,
			details_url = EXCLUDED.details_url, updated_at = now()
		RETURNING `+enforcementColumns,
		e.BlueprintID, e.Platform, e.OSVersion, e.BuildVersion, e.TargetLocalDateTime, e.LatestMinusDays, e.LocalTime, e.DetailsURL))
}

// DeleteSoftwareUpdateEnforcement removes one; false when none was set.
func (q *Queries) DeleteSoftwareUpdateEnforcement(ctx context.Context, blueprintID int64, platform string) (bool, error) {
	tag, err := q.db.Exec(ctx, "DELETE FROM software_update_enforcements WHERE blueprint_id = $1 AND platform = $2", blueprintID, platform)
	if err != nil {
		return false, fmt.Errorf("delete software update enforcement: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SoftwareUpdateEnforcement returns one enforcement, or ErrNotFound.
func (q *Queries) SoftwareUpdateEnforcement(ctx context.Context, blueprintID int64, platform string) (SoftwareUpdateEnforcement, error) {
	return scanEnforcement(q.db.QueryRow(ctx, "SELECT "+enforcementColumns+
		" FROM software_update_enforcements WHERE blueprint_id = $1 AND platform = $2", blueprintID, platform))
}

// SoftwareUpdateEnforcements lists a blueprint's enforcements by platform.
func (q *Queries) SoftwareUpdateEnforcements(ctx context.Context, blueprintID int64) ([]SoftwareUpdateEnforcement, error) {
	rows, err := q.db.Query(ctx, "SELECT "+enforcementColumns+
		" FROM software_update_enforcements WHERE blueprint_id = $1 ORDER BY platform", blueprintID)
	if err != nil {
		return nil, fmt.Errorf("software update enforcements: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SoftwareUpdateEnforcement, error) { return scanEnforcement(r) })
}

// LatestMinusDaysEnforcements lists every latest-minus-N-days enforcement,
// which a catalog change may move.
func (q *Queries) LatestMinusDaysEnforcements(ctx context.Context) ([]SoftwareUpdateEnforcement, error) {
	rows, err := q.db.Query(ctx, "SELECT "+enforcementColumns+
		" FROM software_update_enforcements WHERE latest_minus_days IS NOT NULL ORDER BY blueprint_id, platform")
	if err != nil {
		return nil, fmt.Errorf("software update enforcements: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SoftwareUpdateEnforcement, error) { return scanEnforcement(r) })
}

// EnforcedDevice is a device an enforcement applies to.
type EnforcedDevice struct {
	ID int64
	// CatalogIDs are what the software update catalog may list it under.
	CatalogIDs            []string
	OSVersion             string
	DeclarativeManagement bool
	// PendingOSUpdate: a ScheduleOSUpdate for the device is not answered yet.
	PendingOSUpdate bool
}

// EnforcedDevices lists a blueprint's devices of a platform still under
// management (not blocked, not checked out).
func (q *Queries) EnforcedDevices(ctx context.Context, blueprintID int64, platform string) ([]EnforcedDevice, error) {
	rows, err := q.db.Query(ctx, `SELECT d.id, `+catalogIDsOf+`, d.os_version, d.declarative_management,
			EXISTS (SELECT 1 FROM mdm_device_commands c WHERE c.device_id = d.id AND c.request_type = 'ScheduleOSUpdate'
				AND c.status IN ('Queued', 'Sent', 'NotNow'))
		FROM enrolled_devices d WHERE d.blueprint_id = $1 AND d.platform = $2 AND d.blocked_at IS NULL
			AND d.checkout_at IS NULL ORDER BY d.id`, blueprintID, platform)
	if err != nil {
		return nil, fmt.Errorf("enforced devices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (EnforcedDevice, error) {
		var d EnforcedDevice
		err := r.Scan(&d.ID, &d.CatalogIDs, &d.OSVersion, &d.DeclarativeManagement, &d.PendingOSUpdate)
		return d, err
	})
}

// catalogIDsOf is what Apple's software update catalog may list device d
// under, most specific first: its SoftwareUpdateDeviceID (a Mac's board id),
// its ProductName, its model; empty ones left out.
const catalogIDsOf = `array_remove(ARRAY[d.software_update_device_id, d.product_name, d.model], '')`

// LatestSoftwareUpdate is the newest full release (not a security
// improvement) of a catalog platform supported by a device listed under any
// of catalogIDs, posted on or before postedBy and still signed then;
// ErrNotFound when none is.
func (q *Queries) LatestSoftwareUpdate(ctx context.Context, platform string, catalogIDs []string, postedBy time.Time) (SoftwareUpdate, error) {
	return scanSoftwareUpdate(q.db.QueryRow(ctx, "SELECT "+softwareUpdateColumns+` FROM software_updates s
		WHERE s.platform = $1 AND s.supported_devices && $2::text[] AND s.extra = '' AND s.posting_date <= $3::date
			AND (s.expiration_date IS NULL OR s.expiration_date >= current_date)
		ORDER BY s.version_parts DESC, s.posting_date DESC, s.public DESC LIMIT 1`, platform, catalogIDs, postedBy))
}
