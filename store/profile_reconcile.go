package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
)

// ProfileScope narrows a reconcile to a blueprint's devices, to some
// devices (one that answered ProfileList, those just assigned a blueprint),
// or to both (nil: no limit by that field).
type ProfileScope struct {
	BlueprintID *int64
	DeviceIDs   []int64
}

// ProfileInstall is a profile a device's blueprint lists and the device
// lacks (never sent, changed since, removed, failed, or missing from the
// device's last ProfileList).
type ProfileInstall struct {
	DeviceID   int64
	ProfileID  int64
	Identifier string
	Hash       string
}

// ProfileRemoval is a profile orchard installed that the device's blueprint
// no longer lists.
type ProfileRemoval struct {
	DeviceID   int64
	Identifier string
}

// A device with a command pending for a profile gets no other for it.
const pendingStatuses = "('Queued', 'Sent', 'NotNow')"

const devicesInScope = `d.blocked_at IS NULL AND d.checkout_at IS NULL
	AND ($1::bigint IS NULL OR d.blueprint_id = $1) AND ($2::bigint[] IS NULL OR d.id = ANY($2))`

// missingFromProfileList: the device's last ProfileList, answered after the
// install was, does not list the profile (a user removed it).
const missingFromProfileList = `EXISTS (SELECT 1 FROM (SELECT pl.result, pl.result_at FROM mdm_device_commands pl
	WHERE pl.device_id = d.id AND pl.request_type = 'ProfileList' AND pl.status = 'Acknowledged'
	ORDER BY pl.id DESC LIMIT 1) last
	WHERE last.result_at > c.result_at AND NOT coalesce(last.result->'ProfileList', '[]'::jsonb)
		@> jsonb_build_array(jsonb_build_object('PayloadIdentifier', p.identifier)))`

// profileInstallsSQL: devices that speak declarative management get their
// blueprint's profiles as legacy-profile declarations instead.
var profileInstallsSQL = `SELECT d.id, p.id, p.identifier, p.content_hash
FROM enrolled_devices d
JOIN blueprint_profiles bp ON bp.blueprint_id = d.blueprint_id
JOIN profiles p ON p.id = bp.profile_id
LEFT JOIN installed_profiles dp ON dp.device_id = d.id AND dp.identifier = p.identifier
LEFT JOIN mdm_device_commands c ON c.uuid = dp.command_uuid
WHERE ` + devicesInScope + ` AND NOT d.declarative_management
	AND (dp.device_id IS NULL OR (coalesce(c.status, '') NOT IN ` + pendingStatuses + `
		AND (dp.removing OR dp.content_hash <> p.content_hash OR coalesce(c.status, '') <> 'Acknowledged'
			OR ($2::bigint[] IS NOT NULL AND ` + missingFromProfileList + `))))
ORDER BY d.id, p.id`

var profileRemovalsSQL = `SELECT dp.device_id, dp.identifier
FROM installed_profiles dp
JOIN enrolled_devices d ON d.id = dp.device_id
LEFT JOIN mdm_device_commands c ON c.uuid = dp.command_uuid
WHERE ` + devicesInScope + `
	AND coalesce(c.status, '') NOT IN ` + pendingStatuses + `
	AND NOT (dp.removing AND c.status = 'Acknowledged')
	AND NOT EXISTS (SELECT 1 FROM blueprint_profiles bp JOIN profiles p ON p.id = bp.profile_id
		WHERE bp.blueprint_id = d.blueprint_id AND p.identifier = dp.identifier)
ORDER BY dp.device_id, dp.identifier`

// ProfileInstallsNeeded lists what a reconcile must install.
func (q *Queries) ProfileInstallsNeeded(ctx context.Context, s ProfileScope) ([]ProfileInstall, error) {
	rows, err := q.db.Query(ctx, profileInstallsSQL, s.BlueprintID, s.DeviceIDs)
	if err != nil {
		return nil, fmt.Errorf("profile installs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProfileInstall, error) {
		var p ProfileInstall
		return p, r.Scan(&p.DeviceID, &p.ProfileID, &p.Identifier, &p.Hash)
	})
}

// ProfileRemovalsNeeded lists what a reconcile must remove.
func (q *Queries) ProfileRemovalsNeeded(ctx context.Context, s ProfileScope) ([]ProfileRemoval, error) {
	rows, err := q.db.Query(ctx, profileRemovalsSQL, s.BlueprintID, s.DeviceIDs)
	if err != nil {
		return nil, fmt.Errorf("profile removals: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProfileRemoval, error) {
		var p ProfileRemoval
		return p, r.Scan(&p.DeviceID, &p.Identifier)
	})
}

// ForgetRemovedProfiles drops the records of removals the devices acknowledged.
func (q *Queries) ForgetRemovedProfiles(ctx context.Context, s ProfileScope) error {
	_, err := q.db.Exec(ctx, `DELETE FROM installed_profiles dp USING enrolled_devices d, mdm_device_commands c
		WHERE d.id = dp.device_id AND c.uuid = dp.command_uuid AND dp.removing AND c.status = 'Acknowledged'
		AND ($1::bigint IS NULL OR d.blueprint_id = $1) AND ($2::bigint[] IS NULL OR d.id = ANY($2))`, s.BlueprintID, s.DeviceIDs)
	if err != nil {
		return fmt.Errorf("forget removed profiles: %w", err)
	}
	return nil
}

// DeviceProfileSent records the command last sent a device for a profile.
type DeviceProfileSent struct {
	DeviceID    int64
	Identifier  string
	ProfileID   *int64
	Hash        string
	CommandUUID string
	Removing    bool
}

// RecordDeviceProfiles records commands sent for profiles, in one statement.
func (q *Queries) RecordDeviceProfiles(ctx context.Context, sent []DeviceProfileSent) error {
	n := len(sent)
	devices, identifiers, profiles := make([]int64, n), make([]string, n), make([]*int64, n)
	hashes, uuids, removing := make([]string, n), make([]string, n), make([]bool, n)
	for i, s := range sent {
		devices[i], identifiers[i], profiles[i] = s.DeviceID, s.Identifier, s.ProfileID
		hashes[i], uuids[i], removing[i] = s.Hash, s.CommandUUID, s.Removing
	}
	_, err := q.db.Exec(ctx, `INSERT INTO installed_profiles (device_id, identifier, profile_id, content_hash, command_uuid, removing)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bool[])
		ON CONFLICT (device_id, identifier) DO UPDATE SET profile_id = EXCLUDED.profile_id,
			content_hash = EXCLUDED.content_hash, command_uuid = EXCLUDED.command_uuid,
			removing = EXCLUDED.removing, updated_at = now()`, devices, identifiers, profiles, hashes, uuids, removing)
	if err != nil {
		return fmt.Errorf("record device profiles: %w", err)
	}
	return nil
}

// QueueCommands queues many built commands with COPY (inside a transaction),
// sealing those that may carry a secret as QueueCommand does (no PINs here).
func (q *Queries) QueueCommands(ctx context.Context, cmds []QueuedCommand) error {
	tx := q.PgxTx()
	if tx == nil {
		return errors.New("queue commands: not in a transaction")
	}
	rows := make([][]any, len(cmds))
	for i, c := range cmds {
		if c.PIN != "" {
			return fmt.Errorf("command %s carries a PIN: %w", c.UUID, ErrMustSeal)
		}
		body, sealed := c.Body, (*string)(nil)
		if mdmproto.CommandCarriesSecret(c.RequestType) {
			v, err := q.sealer.Seal(c.Body, commandPlace(c.UUID, commandBodyColumn))
			if err != nil {
				return err
			}
			body, sealed = []byte{}, &v
		}
		rows[i] = []any{c.UUID, c.DeviceID, c.RequestType, body, sealed, c.Actor}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"mdm_device_commands"},
		[]string{"uuid", "device_id", "request_type", "command", "command_sealed", "queued_by"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("queue commands: %w", err)
	}
	return nil
}

// AnsweredProfileList returns the device id when uuid is an acknowledged
// ProfileList of this device (0 otherwise).
func (q *Queries) AnsweredProfileList(ctx context.Context, udid, uuid string) (int64, error) {
	var id int64
	err := q.db.QueryRow(ctx, `SELECT c.device_id FROM mdm_device_commands c JOIN enrolled_devices d ON d.id = c.device_id
		WHERE c.uuid = $1 AND d.udid = $2 AND c.request_type = 'ProfileList' AND c.status = 'Acknowledged'`, uuid, udid).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return id, err
}
