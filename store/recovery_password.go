package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const pendingRecoveryPasswordColumn = "recovery_password_pending_sealed"

// A Mac that refused its recovery password is asked again after
// RecoveryPasswordFirstPause, then after twice as long at each refusal in a
// row, up to RecoveryPasswordMaxPause: a Mac that cannot take one (an Intel
// Mac whose firmware refuses, a user's own firmware password) is not sent a
// command at every inventory run.
const (
	RecoveryPasswordFirstPause = time.Hour
	RecoveryPasswordMaxPause   = 7 * 24 * time.Hour
)

// SetPendingRecoveryPassword seals a recovery password sent to a device but
// not yet acknowledged; the current one stays as it is.
func (q *Queries) SetPendingRecoveryPassword(ctx context.Context, deviceID int64, password []byte) error {
	return q.SetDeviceSecret(ctx, q.db, deviceID, pendingRecoveryPasswordColumn, password)
}

// PromotePendingRecoveryPassword makes the pending password the current one
// (the device acknowledged it). It is resealed: a sealed value is bound to
// its column. Nothing pending: nothing changes.
func (q *Queries) PromotePendingRecoveryPassword(ctx context.Context, deviceID int64) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		qt := q.with(tx)
		pending, err := qt.OpenDeviceSecret(ctx, deviceID, pendingRecoveryPasswordColumn)
		if err != nil || pending == nil {
			return err
		}
		if err := qt.SetDeviceSecret(ctx, tx, deviceID, "recovery_password_sealed", pending); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE enrolled_devices SET recovery_password_pending_sealed = NULL,
			recovery_password_set_at = now(), secret_error = '', recovery_password_refusals = 0,
			recovery_password_retry_at = NULL WHERE id = $1`, deviceID)
		if err != nil {
			return fmt.Errorf("promote recovery password: %w", err)
		}
		return nil
	})
}

// DropPendingRecoveryPassword forgets a password the device refused, and
// says why; the current one stays readable. RecoveryPasswordDue then leaves
// the device alone for a pause that doubles with each refusal in a row.
func (q *Queries) DropPendingRecoveryPassword(ctx context.Context, deviceID int64, why string) error {
	// The exponent stops growing once the pause has reached its cap.
	_, err := q.db.Exec(ctx, `UPDATE enrolled_devices SET recovery_password_pending_sealed = NULL, secret_error = $2,
		recovery_password_refusals = recovery_password_refusals + 1,
		recovery_password_retry_at = now() + least($3::interval,
			$4::interval * power(2, least(recovery_password_refusals, 16))),
		updated_at = now() WHERE id = $1`, deviceID, why, RecoveryPasswordMaxPause, RecoveryPasswordFirstPause)
	return err
}

// recoveryCommandPending: a password change is out with device d. A pending
// password whose command was cancelled (re-enrollment, an administrator)
// no longer counts.
const recoveryCommandPending = `EXISTS (SELECT 1 FROM mdm_device_commands c WHERE c.device_id = d.id
	AND c.request_type IN ('SetRecoveryLock', 'SetFirmwarePassword') AND c.status IN ('Queued', 'Sent', 'NotNow'))`

// RecoveryPasswordState is what decides whether a device needs a new password.
type RecoveryPasswordState struct {
	HasCurrent bool
	// HasPending: a new password is out with the device, unanswered.
	HasPending  bool
	SetAt       *time.Time
	SecretError string
}

// RecoveryPasswordState reads a device's recovery password state.
func (q *Queries) RecoveryPasswordState(ctx context.Context, deviceID int64) (RecoveryPasswordState, error) {
	var s RecoveryPasswordState
	err := q.db.QueryRow(ctx, `SELECT recovery_password_sealed IS NOT NULL,
		recovery_password_pending_sealed IS NOT NULL AND `+recoveryCommandPending+`,
		recovery_password_set_at, secret_error FROM enrolled_devices d WHERE id = $1`, deviceID).
		Scan(&s.HasCurrent, &s.HasPending, &s.SetAt, &s.SecretError)
	if err == pgx.ErrNoRows {
		return s, ErrNotFound
	}
	return s, err
}

// RecoveryPasswordDue lists up to limit Macs with ids above after whose
// blueprint manages the recovery password and that have none, or one older
// than the rotation, and none pending, leaving out those whose pause after a
// refusal has not passed.
func (q *Queries) RecoveryPasswordDue(ctx context.Context, after int64, limit int) ([]int64, error) {
	rows, err := q.db.Query(ctx, `SELECT d.id FROM enrolled_devices d JOIN blueprints b ON b.id = d.blueprint_id
		WHERE b.recovery_password AND d.platform = 'macOS' AND d.token_updated AND d.blocked_at IS NULL
			AND d.checkout_at IS NULL AND NOT `+recoveryCommandPending+` AND d.id > $1
			AND (d.recovery_password_retry_at IS NULL OR d.recovery_password_retry_at <= now())
			AND (d.recovery_password_sealed IS NULL OR (b.recovery_password_rotation_days IS NOT NULL
				AND d.recovery_password_set_at < now() - make_interval(days => b.recovery_password_rotation_days)))
		ORDER BY d.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("recovery password due: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
