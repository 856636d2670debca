package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
)

// SoftwareUpdateStatus is where a device's software update stands, as its
// last status reports said; nil fields were never reported.
type SoftwareUpdateStatus struct {
	DeviceID                              int64
	InstallState                          *string
	PendingOSVersion, PendingBuildVersion *string
	FailureCount                          *int
	FailureReason                         *string
	FailedAt                              *time.Time
	ReportedAt                            time.Time
}

// saveSoftwareUpdateStatusSQL replaces each group of columns whose item the
// report carries ($2, $3, $6: whether it did) and keeps the others.
const saveSoftwareUpdateStatusSQL = `INSERT INTO device_software_update_status AS s (device_id, install_state,
		pending_os_version, pending_build_version, failure_count, failure_reason, failed_at)
	VALUES ($1, $2, CASE WHEN $3 THEN $4 END, CASE WHEN $3 THEN $5 END, CASE WHEN $6 THEN $7::integer END,
		CASE WHEN $6 THEN $8 END, CASE WHEN $6 THEN $9::timestamptz END)
	ON CONFLICT (device_id) DO UPDATE SET install_state = coalesce(EXCLUDED.install_state, s.install_state),
		pending_os_version = CASE WHEN $3 THEN EXCLUDED.pending_os_version ELSE s.pending_os_version END,
		pending_build_version = CASE WHEN $3 THEN EXCLUDED.pending_build_version ELSE s.pending_build_version END,
		failure_count = CASE WHEN $6 THEN EXCLUDED.failure_count ELSE s.failure_count END,
		failure_reason = CASE WHEN $6 THEN EXCLUDED.failure_reason ELSE s.failure_reason END,
		failed_at = CASE WHEN $6 THEN EXCLUDED.failed_at ELSE s.failed_at END,
		reported_at = now()`

// SaveDeviceStatus applies what a status report says of the device: its OS
// version and build and software update device id become its facts, and
// its softwareupdate items its software update status.
func (q *Queries) SaveDeviceStatus(ctx context.Context, deviceID int64, d ddm.DeviceStatus) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		facts := mdmproto.DeviceFacts{OSVersion: d.OSVersion, BuildVersion: d.BuildVersion,
			SoftwareUpdateDeviceID: d.SoftwareUpdateDeviceID}
		if facts != (mdmproto.DeviceFacts{}) {
			if err := applyFacts(ctx, tx, deviceID, facts); err != nil {
				return err
			}
		}
		su := d.SoftwareUpdate
		if su == nil {
			return nil
		}
		var pending ddm.PendingVersion
		if su.Pending != nil {
			pending = *su.Pending
		}
		var failure ddm.UpdateFailure
		if su.Failure != nil {
			failure = *su.Failure
		}
		_, err := tx.Exec(ctx, saveSoftwareUpdateStatusSQL, deviceID, su.InstallState, su.Pending != nil,
			pending.OSVersion, pending.BuildVersion, su.Failure != nil, failure.Count, failure.Reason, failure.At)
		if err != nil {
			return fmt.Errorf("save software update status: %w", err)
		}
		return nil
	})
}

const softwareUpdateStatusColumns = `device_id, install_state, pending_os_version, pending_build_version,
	failure_count, failure_reason, failed_at, reported_at`

func scanSoftwareUpdateStatus(row pgx.Row) (SoftwareUpdateStatus, error) {
	var s SoftwareUpdateStatus
	err := row.Scan(&s.DeviceID, &s.InstallState, &s.PendingOSVersion, &s.PendingBuildVersion, &s.FailureCount,
		&s.FailureReason, &s.FailedAt, &s.ReportedAt)
	return s, err
}

// SoftwareUpdateStatusesByDeviceIDs loads the software update status of
// each device, in order (nil for a device that never reported one).
func (q *Queries) SoftwareUpdateStatusesByDeviceIDs(ctx context.Context, ids []int64) ([]*SoftwareUpdateStatus, error) {
	return loadByKeys(ctx, q.db, "software update statuses", "SELECT "+softwareUpdateStatusColumns+
		" FROM device_software_update_status WHERE device_id = ANY($1)", ids, scanSoftwareUpdateStatus,
		func(s *SoftwareUpdateStatus) int64 { return s.DeviceID })
}

// DeviceSoftwareUpdateStatus is a device's software update status;
// ErrNotFound when it never reported one.
func (q *Queries) DeviceSoftwareUpdateStatus(ctx context.Context, deviceID int64) (SoftwareUpdateStatus, error) {
	found, err := q.SoftwareUpdateStatusesByDeviceIDs(ctx, []int64{deviceID})
	if err != nil {
		return SoftwareUpdateStatus{}, err
	}
	if found[0] == nil {
		return SoftwareUpdateStatus{}, ErrNotFound
	}
	return *found[0], nil
}
