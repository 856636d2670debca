package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetFileVaultPRK seals a Mac's decrypted FileVault personal recovery key
// in place of the previous one, marks it escrowed and clears the last error.
func (q *Queries) SetFileVaultPRK(ctx context.Context, deviceID int64, prk []byte) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		if err := q.with(tx).SetDeviceSecret(ctx, tx, deviceID, "filevault_prk_sealed", prk); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE enrolled_devices SET filevault_prk_escrowed = true, secret_error = ''
			WHERE id = $1`, deviceID)
		if err != nil {
			return fmt.Errorf("escrow filevault prk: %w", err)
		}
		return nil
	})
}

// SetSecretError records why a device's last secret answer (FileVault key,
// recovery password) could not be used; the stored secrets stay as they are.
func (q *Queries) SetSecretError(ctx context.Context, deviceID int64, why string) error {
	_, err := q.db.Exec(ctx, `UPDATE enrolled_devices SET secret_error = $2, updated_at = now() WHERE id = $1`,
		deviceID, why)
	return err
}

// SecretError is why a device's last secret answer could not be used ("" when it could).
func (q *Queries) SecretError(ctx context.Context, deviceID int64) (string, error) {
	var why string
	err := q.db.QueryRow(ctx, `SELECT secret_error FROM enrolled_devices WHERE id = $1`, deviceID).Scan(&why)
	if err == pgx.ErrNoRows {
		return "", ErrNotFound
	}
	return why, err
}

// MacEscrowsFileVault reports whether a device is a Mac whose blueprint
// escrows FileVault keys, in one statement: every ProfileList answer asks.
func (q *Queries) MacEscrowsFileVault(ctx context.Context, deviceID int64) (bool, error) {
	var escrows bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrolled_devices d JOIN blueprints b ON b.id = d.blueprint_id
		WHERE d.id = $1 AND d.platform = 'macOS' AND b.filevault = 'ESCROW')`, deviceID).Scan(&escrows)
	if err != nil {
		return false, fmt.Errorf("mac escrows filevault: %w", err)
	}
	return escrows, nil
}

// BlueprintMacs lists the enrolled, reachable Macs following a blueprint.
func (q *Queries) BlueprintMacs(ctx context.Context, blueprintID int64) ([]int64, error) {
	rows, err := q.db.Query(ctx, `SELECT id FROM enrolled_devices WHERE blueprint_id = $1 AND platform = 'macOS'
		AND token_updated AND blocked_at IS NULL AND checkout_at IS NULL ORDER BY id`, blueprintID)
	if err != nil {
		return nil, fmt.Errorf("blueprint macs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
