package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"
)

// Location is an Apps and Books location (Zentral's fields). Its content
// token is sealed and never part of it.
type Location struct {
	ID                        int64
	LibraryUID                string
	Name                      string
	OrganizationName          string
	CountryCode               string
	Platform                  string
	WebsiteURL                string
	MdmInfoID                 string
	ServerTokenExpirationDate time.Time
	AssetsVersionID           *string
	LastSyncedAt              *time.Time
	CreatedAt                 time.Time
	UpdatedAt                 time.Time
}

// LocationInput is what an accepted token upload stores.
type LocationInput struct {
	LibraryUID, Name, OrganizationName, CountryCode, Platform, WebsiteURL, MdmInfoID string
	ServerTokenExpirationDate                                                        time.Time
	// SToken is the content token, sealed before it is written.
	SToken string
	// NotificationSecretSHA256 is the hash of the bearer Apple's notifications carry.
	NotificationSecretSHA256 []byte
}

// LocationFilter narrows ListLocations; empty fields match everything.
type LocationFilter struct {
	Name, OrganizationName string
}

const locationColumns = `id, library_uid, name, organization_name, country_code, platform, website_url, mdm_info_id,
	server_token_expiration_date, assets_version_id, last_synced_at, created_at, updated_at`

func scanLocation(row pgx.Row) (Location, error) {
	var l Location
	err := row.Scan(&l.ID, &l.LibraryUID, &l.Name, &l.OrganizationName, &l.CountryCode, &l.Platform, &l.WebsiteURL,
		&l.MdmInfoID, &l.ServerTokenExpirationDate, &l.AssetsVersionID, &l.LastSyncedAt, &l.CreatedAt, &l.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, ErrNotFound
	}
	return l, err
}

func locationPlace(id int64) seal.Place {
	return seal.Place{Table: "locations", Column: "token_sealed", RowID: strconv.FormatInt(id, 10)}
}

// SaveLocation stores a location, or renews the one of the same library
// uid, with its token sealed to the row.
func (q *Queries) SaveLocation(ctx context.Context, in LocationInput) (Location, error) {
	var l Location
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		l, err = scanLocation(tx.QueryRow(ctx, `INSERT INTO locations (library_uid, name, organization_name, country_code,
				platform, website_url, mdm_info_id, server_token_expiration_date, token_sealed, notification_secret_sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9)
			ON CONFLICT (library_uid) DO UPDATE SET name = EXCLUDED.name, organization_name = EXCLUDED.organization_name,
				country_code = EXCLUDED.country_code, platform = EXCLUDED.platform, website_url = EXCLUDED.website_url,
				mdm_info_id = EXCLUDED.mdm_info_id, server_token_expiration_date = EXCLUDED.server_token_expiration_date,
				notification_secret_sha256 = EXCLUDED.notification_secret_sha256, updated_at = now()
			RETURNING `+locationColumns, in.LibraryUID, in.Name, in.OrganizationName, in.CountryCode, in.Platform,
			in.WebsiteURL, in.MdmInfoID, in.ServerTokenExpirationDate, in.NotificationSecretSHA256))
		if err != nil {
			return fmt.Errorf("save location: %w", err)
		}
		sealed, err := q.sealer.Seal([]byte(in.SToken), locationPlace(l.ID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE locations SET token_sealed = $2 WHERE id = $1", l.ID, sealed)
		return err
	})
	return l, err
}

// Location returns one location.
func (q *Queries) Location(ctx context.Context, id int64) (Location, error) {
	return scanLocation(q.db.QueryRow(ctx, "SELECT "+locationColumns+" FROM locations WHERE id = $1", id))
}

// LocationByUID returns the location of an Apple library uid.
func (q *Queries) LocationByUID(ctx context.Context, uid string) (Location, error) {
	return scanLocation(q.db.QueryRow(ctx, "SELECT "+locationColumns+" FROM locations WHERE library_uid = $1", uid))
}

// ListLocations lists locations in id order.
func (q *Queries) ListLocations(ctx context.Context, f LocationFilter) ([]Location, error) {
	rows, err := q.db.Query(ctx, "SELECT "+locationColumns+` FROM locations
		WHERE ($1 = '' OR name = $1) AND ($2 = '' OR organization_name = $2) ORDER BY id`, f.Name, f.OrganizationName)
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Location, error) { return scanLocation(r) })
}

// DeleteLocation deletes a location with its assets; ErrNotFound if none.
func (q *Queries) DeleteLocation(ctx context.Context, id int64) error {
	tag, err := q.db.Exec(ctx, "DELETE FROM locations WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete location: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// LocationToken opens a location's content token.
func (q *Queries) LocationToken(ctx context.Context, id int64) (string, error) {
	var sealed string
	err := q.db.QueryRow(ctx, "SELECT token_sealed FROM locations WHERE id = $1", id).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	} else if err != nil {
		return "", err
	}
	plain, err := q.sealer.Open(sealed, locationPlace(id))
	return string(plain), err
}

// LocationNotificationHash is the SHA-256 of a location's notification bearer.
func (q *Queries) LocationNotificationHash(ctx context.Context, uid string) (int64, []byte, error) {
	var id int64
	var h []byte
	err := q.db.QueryRow(ctx, "SELECT id, notification_secret_sha256 FROM locations WHERE library_uid = $1", uid).Scan(&id, &h)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	return id, h, err
}

// LocationsByIDs loads locations for a dataloader, in the order of ids.
func (q *Queries) LocationsByIDs(ctx context.Context, ids []int64) ([]*Location, error) {
	return loadByKeys(ctx, q.db, "locations", "SELECT "+locationColumns+" FROM locations WHERE id = ANY($1)",
		ids, scanLocation, func(l *Location) int64 { return l.ID })
}
