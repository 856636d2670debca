package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
)

// InventoryDue is a device claimed for an inventory request: what its
// blueprint collects and the request types it already has pending (those
// are not queued again).
type InventoryDue struct {
	DeviceID            int64
	Platform            string
	CollectApps         string
	CollectCertificates string
	CollectProfiles     string
	Pending             []string
}

// inventoryClaimSQL claims due devices by stamping inventory_requested_at,
// so two runs (or a run and a first inventory) never claim one device
// twice: the row lock of the UPDATE serialises them, and SKIP LOCKED lets
// a run pass over a device another transaction holds. A device is due when
// neither an answer nor a request is newer than its blueprint's interval
// (devices without a blueprint: a day).
const inventoryClaimSQL = `WITH due AS (
		SELECT d.id FROM enrolled_devices d LEFT JOIN blueprints b ON b.id = d.blueprint_id
		WHERE d.token_updated AND d.blocked_at IS NULL AND d.checkout_at IS NULL AND d.id > $1
			AND ($3::bigint = 0 OR d.id = $3)
			AND CASE WHEN $4 THEN d.inventory_requested_at IS NULL
				ELSE GREATEST(d.inventory_updated_at, d.inventory_requested_at) IS NULL
					OR GREATEST(d.inventory_updated_at, d.inventory_requested_at)
						< now() - make_interval(secs => COALESCE(b.inventory_interval_seconds, 86400)) END
		ORDER BY d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED)
	UPDATE enrolled_devices d SET inventory_requested_at = now() FROM due WHERE d.id = due.id
	RETURNING d.id, d.platform,
		COALESCE((SELECT b.collect_apps FROM blueprints b WHERE b.id = d.blueprint_id), 'NO'),
		COALESCE((SELECT b.collect_certificates FROM blueprints b WHERE b.id = d.blueprint_id), 'NO'),
		COALESCE((SELECT b.collect_profiles FROM blueprints b WHERE b.id = d.blueprint_id), 'NO'),
		ARRAY(SELECT DISTINCT c.request_type FROM mdm_device_commands c
			WHERE c.device_id = d.id AND c.status IN ('Queued', 'Sent', 'NotNow'))`

// ClaimInventoryDue claims up to limit due devices with ids above after, in
// id order.
func (q *Queries) ClaimInventoryDue(ctx context.Context, after int64, limit int) ([]InventoryDue, error) {
	return q.claimInventory(ctx, after, limit, 0, false)
}

// ClaimFirstInventory claims a device not asked for an inventory since it
// enrolled; none when it was.
func (q *Queries) ClaimFirstInventory(ctx context.Context, deviceID int64) ([]InventoryDue, error) {
	return q.claimInventory(ctx, 0, 1, deviceID, true)
}

func (q *Queries) claimInventory(ctx context.Context, after int64, limit int, deviceID int64, first bool) ([]InventoryDue, error) {
	rows, err := q.db.Query(ctx, inventoryClaimSQL, after, limit, deviceID, first)
	if err != nil {
		return nil, fmt.Errorf("claim inventory: %w", err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InventoryDue, error) {
		var d InventoryDue
		err := r.Scan(&d.DeviceID, &d.Platform, &d.CollectApps, &d.CollectCertificates, &d.CollectProfiles, &d.Pending)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim inventory: %w", err)
	}
	return due, nil
}

// ForgetInventoryRequest makes a device due for a first inventory again (a
// new enrollment: its queue was cleared).
func (q *Queries) ForgetInventoryRequest(ctx context.Context, udid string) error {
	_, err := q.db.Exec(ctx, "UPDATE enrolled_devices SET inventory_requested_at = NULL WHERE udid = $1", udid)
	return err
}

// DeviceIDByUDID names the device of a channel.
func (q *Queries) DeviceIDByUDID(ctx context.Context, udid string) (int64, error) {
	var id int64
	err := q.db.QueryRow(ctx, "SELECT id FROM enrolled_devices WHERE udid = $1", udid).Scan(&id)
	if err == pgx.ErrNoRows {
		return 0, ErrNotFound
	}
	return id, err
}

// InsertCommands queues many built commands that carry no secret in one
// COPY: inventory runs queue tens of thousands at once. The returned ids
// follow the order of cmds.
func (q *Queries) InsertCommands(ctx context.Context, cmds []QueuedCommand) ([]int64, error) {
	rows := make([][]any, len(cmds))
	uuids := make([]string, len(cmds))
	for i, c := range cmds {
		if mdmproto.CommandCarriesSecret(c.RequestType) {
			return nil, fmt.Errorf("%s may carry a secret: %w", c.RequestType, ErrMustSeal)
		}
		rows[i] = []any{c.UUID, c.DeviceID, c.RequestType, c.Body, c.Actor}
		uuids[i] = c.UUID
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	_, err := q.db.(interface {
		CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
	}).CopyFrom(ctx, pgx.Identifier{"mdm_device_commands"}, []string{"uuid", "device_id", "request_type", "command", "queued_by"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return nil, fmt.Errorf("queue commands: %w", err)
	}
	idRows, err := q.db.Query(ctx, `SELECT c.id FROM unnest($1::text[]) WITH ORDINALITY u(uuid, n)
		JOIN mdm_device_commands c ON c.uuid = u.uuid ORDER BY u.n`, uuids)
	if err != nil {
		return nil, fmt.Errorf("queued command ids: %w", err)
	}
	return pgx.CollectRows(idRows, pgx.RowTo[int64])
}
