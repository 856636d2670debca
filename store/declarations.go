package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
)

// DeclarativeDevice is what declarations are computed from for a device.
type DeclarativeDevice struct {
	ID            int64
	BlueprintID   *int64
	BlueprintName string
	// Platform and CatalogIDs choose the blueprint's software update target.
	Platform   string
	CatalogIDs []string
	// ChangedAt is when the blueprint's declarations last changed.
	ChangedAt time.Time
}

// DeclarativeDevice checks the channel's identity (as a check-in does),
// records that the device speaks declarative management (its profiles then
// come as declarations, not InstallProfile) and returns it with its blueprint.
func (q *Queries) DeclarativeDevice(ctx context.Context, ch Channel) (DeclarativeDevice, error) {
	var d DeclarativeDevice
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, true)
		if err != nil {
			return err
		}
		d.ID = id
		if _, err := tx.Exec(ctx, `UPDATE enrolled_devices SET declarative_management = true
			WHERE id = $1 AND NOT declarative_management`, id); err != nil {
			return fmt.Errorf("declarative device: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT d.blueprint_id, coalesce(b.name, ''),
			coalesce(bd.changed_at, b.updated_at, d.created_at), d.platform, `+catalogIDsOf+`
			FROM enrolled_devices d LEFT JOIN blueprints b ON b.id = d.blueprint_id
			LEFT JOIN blueprint_declarations bd ON bd.blueprint_id = d.blueprint_id
			WHERE d.id = $1`, id).Scan(&d.BlueprintID, &d.BlueprintName, &d.ChangedAt, &d.Platform, &d.CatalogIDs)
	})
	return d, err
}

// TouchBlueprintDeclarations records that these blueprints' declarations changed.
func (q *Queries) TouchBlueprintDeclarations(ctx context.Context, blueprintIDs []int64) error {
	_, err := q.db.Exec(ctx, `INSERT INTO blueprint_declarations (blueprint_id)
		SELECT unnest($1::bigint[]) ON CONFLICT (blueprint_id) DO UPDATE SET changed_at = now()`, blueprintIDs)
	if err != nil {
		return fmt.Errorf("touch blueprint declarations: %w", err)
	}
	return nil
}

// DeviceOS is a device with what it said of its OS ("" where unknown).
type DeviceOS struct {
	ID                  int64
	Platform, OSVersion string
}

// BlueprintDevices lists the managed devices (not blocked, not checked out)
// of a blueprint, only those of ids when ids is not nil.
func (q *Queries) BlueprintDevices(ctx context.Context, blueprintID int64, ids []int64) ([]DeviceOS, error) {
	rows, err := q.db.Query(ctx, `SELECT id, platform, os_version FROM enrolled_devices
		WHERE blueprint_id = $1 AND blocked_at IS NULL AND checkout_at IS NULL
			AND ($2::bigint[] IS NULL OR id = ANY($2)) ORDER BY id`, blueprintID, ids)
	if err != nil {
		return nil, fmt.Errorf("blueprint devices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceOS, error) {
		var d DeviceOS
		return d, r.Scan(&d.ID, &d.Platform, &d.OSVersion)
	})
}

// DeclarationStatus is a device's last report on one declaration.
type DeclarationStatus struct {
	DeviceID                             int64
	Kind, Identifier, ServerToken, Valid string
	Active                               bool
	Reasons                              json.RawMessage
	ReportedAt                           time.Time
}

// SaveDeclarationStatus stores a device's statuses; a full report replaces
// what the device reported before.
func (q *Queries) SaveDeclarationStatus(ctx context.Context, deviceID int64, full bool, list []ddm.DeclarationStatus) error {
	if full {
		if _, err := q.db.Exec(ctx, "DELETE FROM device_declaration_status WHERE device_id = $1", deviceID); err != nil {
			return fmt.Errorf("save declaration status: %w", err)
		}
	}
	n := len(list)
	kinds, ids, tokens, valid := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	active, reasons := make([]bool, n), make([]string, n)
	for i, s := range list {
		kinds[i], ids[i], tokens[i], valid[i], active[i] = s.Kind, s.Identifier, s.ServerToken, s.Valid, s.Active
		r, err := json.Marshal(s.Reasons)
		if err != nil || s.Reasons == nil {
			r = []byte("[]")
		}
		reasons[i] = string(r)
	}
	_, err := q.db.Exec(ctx, `INSERT INTO device_declaration_status
		(device_id, kind, identifier, server_token, active, valid, reasons)
		SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::jsonb[])
		ON CONFLICT (device_id, kind, identifier) DO UPDATE SET server_token = EXCLUDED.server_token,
			active = EXCLUDED.active, valid = EXCLUDED.valid, reasons = EXCLUDED.reasons, reported_at = now()`,
		deviceID, kinds, ids, tokens, active, valid, reasons)
	if err != nil {
		return fmt.Errorf("save declaration status: %w", err)
	}
	return nil
}

// DeclarationStatuses lists a device's last reported declaration statuses,
// by kind and identifier.
func (q *Queries) DeclarationStatuses(ctx context.Context, deviceID int64) ([]DeclarationStatus, error) {
	lists, err := q.DeclarationStatusesByDeviceIDs(ctx, []int64{deviceID})
	if err != nil {
		return nil, err
	}
	return lists[0], nil
}

// DeclarationStatusesByDeviceIDs is DeclarationStatuses of each device, in
// order, in one statement (a page's dataloader).
func (q *Queries) DeclarationStatusesByDeviceIDs(ctx context.Context, ids []int64) ([][]DeclarationStatus, error) {
	rows, err := q.db.Query(ctx, `SELECT device_id, kind, identifier, server_token, valid, active, reasons, reported_at
		FROM device_declaration_status WHERE device_id = ANY($1) ORDER BY device_id, kind, identifier`, ids)
	if err != nil {
		return nil, fmt.Errorf("declaration statuses: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeclarationStatus, error) {
		var s DeclarationStatus
		err := r.Scan(&s.DeviceID, &s.Kind, &s.Identifier, &s.ServerToken, &s.Valid, &s.Active, &s.Reasons, &s.ReportedAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("declaration statuses: %w", err)
	}
	return groupByKeys(ids, list, func(s *DeclarationStatus) int64 { return s.DeviceID }), nil
}

// ProfileForDevice opens a library profile a device's blueprint lists;
// ErrNotFound when it lists no such profile.
func (q *Queries) ProfileForDevice(ctx context.Context, deviceID, profileID int64) ([]byte, error) {
	var listed bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrolled_devices d JOIN blueprint_profiles bp
		ON bp.blueprint_id = d.blueprint_id WHERE d.id = $1 AND bp.profile_id = $2)`, deviceID, profileID).Scan(&listed)
	if err != nil {
		return nil, fmt.Errorf("profile for device: %w", err)
	}
	if !listed {
		return nil, ErrNotFound
	}
	return q.ProfileContent(ctx, profileID)
}

// DeviceByIdentity is the managed device an identity certificate is bound
// to (requests without a plist naming the device, as asset downloads).
func (q *Queries) DeviceByIdentity(ctx context.Context, certHash []byte) (int64, error) {
	var id int64
	err := q.db.QueryRow(ctx, `SELECT id FROM enrolled_devices WHERE identity_cert_sha256 = $1
		AND blocked_at IS NULL AND authenticated_at IS NOT NULL AND checkout_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM mdm_scep_certificates rc WHERE rc.sha256 = $1 AND rc.revoked_at IS NOT NULL)`,
		certHash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, mdmproto.ErrNotEnrolled
	}
	return id, err
}
