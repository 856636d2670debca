package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

// DEPProfile is a DEP enrollment profile as orchard keeps it, with the UUID
// Apple gave it when it was last defined.
type DEPProfile struct {
	ID              int64
	VirtualServerID int64
	Name            string
	// Fields are Apple's profile fields; ProfileName, URL and Devices are
	// not kept in them (Name and URL are orchard's own columns).
	Fields      dep.Profile
	ProfileUUID string
	URL         string
	DefinedAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const depProfileColumns = `id, virtual_server_id, name, apple_fields, profile_uuid, url, defined_at, created_at, updated_at`

func scanDEPProfile(row pgx.Row) (DEPProfile, error) {
	var p DEPProfile
	var fields []byte
	err := row.Scan(&p.ID, &p.VirtualServerID, &p.Name, &fields, &p.ProfileUUID, &p.URL, &p.DefinedAt, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(fields, &p.Fields); err != nil {
		return p, fmt.Errorf("dep profile %d fields: %w", p.ID, err)
	}
	return p, nil
}

func profileFields(p dep.Profile) ([]byte, error) {
	p.ProfileName, p.URL, p.Devices, p.ProfileUUID = "", "", nil, ""
	return json.Marshal(p)
}

// SaveDEPProfile inserts (ID 0) or updates a profile Apple just defined,
// with the UUID Apple gave it.
func (q *Queries) SaveDEPProfile(ctx context.Context, p DEPProfile) (DEPProfile, error) {
	fields, err := profileFields(p.Fields)
	if err != nil {
		return p, fmt.Errorf("dep profile: %w", err)
	}
	var out DEPProfile
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		if p.ID == 0 {
			out, err = scanDEPProfile(tx.QueryRow(ctx, `INSERT INTO dep_profiles (virtual_server_id, name, apple_fields,
				profile_uuid, url, defined_at) VALUES ($1, $2, $3, $4, $5, now()) RETURNING `+depProfileColumns,
				p.VirtualServerID, p.Name, fields, p.ProfileUUID, p.URL))
		} else {
			out, err = scanDEPProfile(tx.QueryRow(ctx, `UPDATE dep_profiles SET name = $2, apple_fields = $3,
				profile_uuid = $4, url = $5, defined_at = now(), updated_at = now() WHERE id = $1 RETURNING `+depProfileColumns,
				p.ID, p.Name, fields, p.ProfileUUID, p.URL))
		}
		if isUniqueViolation(err) {
			return fmt.Errorf("a DEP profile named %q exists on this server: %w", p.Name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("save dep profile: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteDEPProfile deletes orchard's record of a profile. Apple has no call to
// delete a profile: devices keep it until another is assigned or it is removed.
func (q *Queries) DeleteDEPProfile(ctx context.Context, id int64) (DEPProfile, error) {
	p, err := scanDEPProfile(q.db.QueryRow(ctx, "DELETE FROM dep_profiles WHERE id = $1 RETURNING "+depProfileColumns, id))
	if err != nil {
		return p, fmt.Errorf("dep profile %d: %w", id, err)
	}
	return p, nil
}

// DEPProfile returns one profile.
func (q *Queries) DEPProfile(ctx context.Context, id int64) (DEPProfile, error) {
	p, err := scanDEPProfile(q.db.QueryRow(ctx, "SELECT "+depProfileColumns+" FROM dep_profiles WHERE id = $1", id))
	if err != nil {
		return p, fmt.Errorf("dep profile %d: %w", id, err)
	}
	return p, nil
}

// ListDEPProfiles returns the profiles of a server (0: of every server) in id order.
func (q *Queries) ListDEPProfiles(ctx context.Context, serverID int64) ([]DEPProfile, error) {
	rows, err := q.db.Query(ctx, "SELECT "+depProfileColumns+" FROM dep_profiles WHERE $1 = 0 OR virtual_server_id = $1 ORDER BY id", serverID)
	if err != nil {
		return nil, fmt.Errorf("list dep profiles: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DEPProfile, error) { return scanDEPProfile(r) })
}

// DEPProfilesByIDs loads profiles for a dataloader: results in the order of ids.
func (q *Queries) DEPProfilesByIDs(ctx context.Context, ids []int64) ([]*DEPProfile, error) {
	return loadByKeys(ctx, q.db, "dep profiles", "SELECT "+depProfileColumns+" FROM dep_profiles WHERE id = ANY($1)",
		ids, scanDEPProfile, func(p *DEPProfile) int64 { return p.ID })
}

// DEPProfilesByUUIDs loads profiles by Apple's UUID for a dataloader; unknown
// UUIDs (profiles defined elsewhere) give nil.
func (q *Queries) DEPProfilesByUUIDs(ctx context.Context, uuids []string) ([]*DEPProfile, error) {
	return loadByKeys(ctx, q.db, "dep profiles", "SELECT "+depProfileColumns+" FROM dep_profiles WHERE profile_uuid = ANY($1)",
		uuids, scanDEPProfile, func(p *DEPProfile) string { return p.ProfileUUID })
}

// DEPDevicesToAutoAssign returns up to limit serials of a server's devices
// with no profile that were not tried since notBefore.
func (q *Queries) DEPDevicesToAutoAssign(ctx context.Context, serverID int64, notBefore time.Time, limit int) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT serial_number FROM dep_devices
		WHERE virtual_server_id = $1 AND profile_status = 'empty' AND deleted_at IS NULL
			AND (auto_assign_tried_at IS NULL OR auto_assign_tried_at < $2)
		ORDER BY id LIMIT $3`, serverID, notBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("dep devices to assign: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// MarkDEPAutoAssignTried records an auto-assignment attempt, so devices Apple
// refuses are not retried at every sync.
func (q *Queries) MarkDEPAutoAssignTried(ctx context.Context, serials []string) error {
	_, err := q.db.Exec(ctx, "UPDATE dep_devices SET auto_assign_tried_at = now() WHERE serial_number = ANY($1)", serials)
	return err
}
