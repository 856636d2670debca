package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"
)

// Profile is a configuration profile of the library (its content stays sealed).
type Profile struct {
	ID           int64
	Identifier   string
	PayloadUUID  string
	DisplayName  string
	PayloadTypes []string
	Scope        string
	Signer       *string
	Hash         string
	Size         int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewProfile is a parsed profile to store.
type NewProfile struct {
	Identifier, PayloadUUID, DisplayName, Scope, Hash string
	PayloadTypes                                      []string
	Signer                                            *string
	Content                                           []byte
}

const profileColumns = `id, identifier, payload_uuid, display_name, payload_types, scope, signer, content_hash, size,
	created_at, updated_at`

const profileContentColumn = "content_sealed"

func profilePlace(id int64) seal.Place {
	return seal.Place{Table: "profiles", Column: profileContentColumn, RowID: fmt.Sprint(id)}
}

func scanProfile(row pgx.Row) (Profile, error) {
	var p Profile
	err := row.Scan(&p.ID, &p.Identifier, &p.PayloadUUID, &p.DisplayName, &p.PayloadTypes, &p.Scope, &p.Signer,
		&p.Hash, &p.Size, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

// CreateProfile stores a profile, its content sealed; ErrConflict when its
// identifier is taken.
func (q *Queries) CreateProfile(ctx context.Context, p NewProfile) (Profile, error) {
	var id int64
	if err := q.db.QueryRow(ctx, "SELECT nextval(pg_get_serial_sequence('profiles', 'id'))").Scan(&id); err != nil {
		return Profile{}, fmt.Errorf("profile id: %w", err)
	}
	sealed, err := q.sealer.Seal(p.Content, profilePlace(id))
	if err != nil {
		return Profile{}, err
	}
	out, err := scanProfile(q.db.QueryRow(ctx, `INSERT INTO profiles (id, identifier, payload_uuid, display_name,
		payload_types, scope, signer, content_sealed, content_hash, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (identifier) DO NOTHING RETURNING `+profileColumns,
		id, p.Identifier, p.PayloadUUID, p.DisplayName, p.PayloadTypes, p.Scope, p.Signer, sealed, p.Hash, len(p.Content)))
	if errors.Is(err, ErrNotFound) {
		return out, fmt.Errorf("profile %q: %w", p.Identifier, ErrConflict)
	}
	if err != nil {
		return out, fmt.Errorf("create profile: %w", err)
	}
	return out, nil
}

// ReplaceProfile replaces a profile's content (its identifier stays).
func (q *Queries) ReplaceProfile(ctx context.Context, id int64, p NewProfile) (Profile, error) {
	sealed, err := q.sealer.Seal(p.Content, profilePlace(id))
	if err != nil {
		return Profile{}, err
	}
	out, err := scanProfile(q.db.QueryRow(ctx, `UPDATE profiles SET payload_uuid = $2, display_name = $3, payload_types = $4,
		scope = $5, signer = $6, content_sealed = $7, content_hash = $8, size = $9, updated_at = now()
		WHERE id = $1 RETURNING `+profileColumns,
		id, p.PayloadUUID, p.DisplayName, p.PayloadTypes, p.Scope, p.Signer, sealed, p.Hash, len(p.Content)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return out, fmt.Errorf("replace profile: %w", err)
	}
	return out, err
}

// Profile reads one profile; ErrNotFound when there is none.
func (q *Queries) Profile(ctx context.Context, id int64) (Profile, error) {
	return scanProfile(q.db.QueryRow(ctx, "SELECT "+profileColumns+" FROM profiles WHERE id = $1", id))
}

// ProfileForUpdate reads and locks one profile.
func (q *Queries) ProfileForUpdate(ctx context.Context, id int64) (Profile, error) {
	return scanProfile(q.db.QueryRow(ctx, "SELECT "+profileColumns+" FROM profiles WHERE id = $1 FOR UPDATE", id))
}

// ProfileContent opens a profile's plist.
func (q *Queries) ProfileContent(ctx context.Context, id int64) ([]byte, error) {
	var sealed string
	err := q.db.QueryRow(ctx, "SELECT content_sealed FROM profiles WHERE id = $1", id).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("profile content: %w", err)
	}
	return q.sealer.Open(sealed, profilePlace(id))
}

// ListProfiles returns one page of profiles in id order.
func (q *Queries) ListProfiles(ctx context.Context, p Page) ([]Profile, bool, error) {
	rows, err := q.db.Query(ctx, "SELECT "+profileColumns+" FROM profiles WHERE id > $1 ORDER BY id LIMIT $2", p.After, p.First+1)
	if err != nil {
		return nil, false, fmt.Errorf("list profiles: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Profile, error) { return scanProfile(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list profiles: %w", err)
	}
	return trimPage(list, p)
}

// DeleteProfile deletes a profile; its blueprint links go with it.
func (q *Queries) DeleteProfile(ctx context.Context, id int64) error {
	tag, err := q.db.Exec(ctx, "DELETE FROM profiles WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete profile: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// BlueprintProfiles lists the profiles a blueprint lists, in id order.
func (q *Queries) BlueprintProfiles(ctx context.Context, blueprintID int64) ([]Profile, error) {
	rows, err := q.db.Query(ctx, "SELECT "+profileColumns+` FROM profiles
		WHERE id IN (SELECT profile_id FROM blueprint_profiles WHERE blueprint_id = $1) ORDER BY id`, blueprintID)
	if err != nil {
		return nil, fmt.Errorf("blueprint profiles: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Profile, error) { return scanProfile(r) })
}

// SetBlueprintProfiles makes a blueprint list exactly these profiles;
// ErrNotFound when one of them does not exist. It reports whether the list changed.
func (q *Queries) SetBlueprintProfiles(ctx context.Context, blueprintID int64, profileIDs []int64) (bool, error) {
	var known int
	if err := q.db.QueryRow(ctx, "SELECT count(*) FROM profiles WHERE id = ANY($1)", profileIDs).Scan(&known); err != nil {
		return false, fmt.Errorf("set blueprint profiles: %w", err)
	}
	if known != len(profileIDs) {
		return false, ErrNotFound
	}
	del, err := q.db.Exec(ctx, "DELETE FROM blueprint_profiles WHERE blueprint_id = $1 AND NOT profile_id = ANY($2)",
		blueprintID, profileIDs)
	if err != nil {
		return false, fmt.Errorf("set blueprint profiles: %w", err)
	}
	ins, err := q.db.Exec(ctx, `INSERT INTO blueprint_profiles (blueprint_id, profile_id)
		SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, blueprintID, profileIDs)
	if err != nil {
		return false, fmt.Errorf("set blueprint profiles: %w", err)
	}
	return del.RowsAffected()+ins.RowsAffected() > 0, nil
}

// ProfileBlueprints lists the blueprints that list a profile.
func (q *Queries) ProfileBlueprints(ctx context.Context, profileID int64) ([]int64, error) {
	rows, err := q.db.Query(ctx, "SELECT blueprint_id FROM blueprint_profiles WHERE profile_id = $1 ORDER BY 1", profileID)
	if err != nil {
		return nil, fmt.Errorf("profile blueprints: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
