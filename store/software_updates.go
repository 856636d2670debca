package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
)

// SoftwareUpdate is one release of Apple's catalog.
type SoftwareUpdate struct {
	ID                int64
	Platform          string
	ProductVersion    string
	Build             string
	Public            bool
	Extra             string
	PrerequisiteBuild string
	PostingDate       time.Time
	ExpirationDate    *time.Time
	SupportedDevices  []string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

const softwareUpdateColumns = `id, platform, product_version, build, public, extra, prerequisite_build,
	posting_date, expiration_date, supported_devices, created_at, updated_at`

func scanSoftwareUpdate(row pgx.Row) (SoftwareUpdate, error) {
	var u SoftwareUpdate
	err := row.Scan(&u.ID, &u.Platform, &u.ProductVersion, &u.Build, &u.Public, &u.Extra, &u.PrerequisiteBuild,
		&u.PostingDate, &u.ExpirationDate, &u.SupportedDevices, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}

// SoftwareUpdateCounts are what a catalog sync changed.
type SoftwareUpdateCounts struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Removed int `json:"removed"`
	// Total is the number of releases stored after the sync.
	Total int `json:"total"`
}

// ReplaceSoftwareUpdateCatalog makes the stored catalog the given entries:
// new releases are added, changed ones updated (dates, supplemental fields,
// devices), releases Apple no longer lists removed; unchanged rows are not
// written. Run it in the caller's transaction so a sync is all or nothing.
func (q *Queries) ReplaceSoftwareUpdateCatalog(ctx context.Context, entries []swupdate.Entry) (SoftwareUpdateCounts, error) {
	var c SoftwareUpdateCounts
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		if err := loadIncomingCatalog(ctx, tx, entries); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM software_updates s WHERE NOT EXISTS (SELECT 1 FROM software_update_incoming i
			WHERE (i.platform, i.product_version, i.build, i.public) = (s.platform, s.product_version, s.build, s.public))`)
		if err != nil {
			return fmt.Errorf("remove dropped software updates: %w", err)
		}
		c.Removed = int(tag.RowsAffected())
		// xmax = 0 tells a fresh insert from an update of a conflicting row.
		rows, err := tx.Query(ctx, `INSERT INTO software_updates AS s (platform, product_version, build, public, extra,
				prerequisite_build, posting_date, expiration_date, supported_devices)
			SELECT platform, product_version, build, public, extra, prerequisite_build, posting_date, expiration_date,
				supported_devices FROM software_update_incoming
			ON CONFLICT (platform, product_version, build, public) DO UPDATE SET extra = EXCLUDED.extra,
				prerequisite_build = EXCLUDED.prerequisite_build, posting_date = EXCLUDED.posting_date,
				expiration_date = EXCLUDED.expiration_date, supported_devices = EXCLUDED.supported_devices, updated_at = now()
			WHERE (s.extra, s.prerequisite_build, s.posting_date, s.expiration_date, s.supported_devices) IS DISTINCT FROM
				(EXCLUDED.extra, EXCLUDED.prerequisite_build, EXCLUDED.posting_date, EXCLUDED.expiration_date, EXCLUDED.supported_devices)
			RETURNING xmax = 0`)
		if err != nil {
			return fmt.Errorf("upsert software updates: %w", err)
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
		if err != nil {
			return fmt.Errorf("upsert software updates: %w", err)
		}
		for _, ins := range inserted {
			if ins {
				c.Added++
			} else {
				c.Updated++
			}
		}
		c.Total = len(entries)
		_, err = tx.Exec(ctx, "DROP TABLE software_update_incoming")
		return err
	})
	return c, err
}

// loadIncomingCatalog copies the entries into a temporary table, so the
// comparison with the stored catalog is a few set operations in PostgreSQL.
func loadIncomingCatalog(ctx context.Context, tx pgx.Tx, entries []swupdate.Entry) error {
	_, err := tx.Exec(ctx, `CREATE TEMP TABLE software_update_incoming (platform text, product_version text, build text,
		public boolean, extra text, prerequisite_build text, posting_date date, expiration_date date,
		supported_devices text[], PRIMARY KEY (platform, product_version, build, public)) ON COMMIT DROP`)
	if err != nil {
		return fmt.Errorf("software update catalog: %w", err)
	}
	cols := []string{"platform", "product_version", "build", "public", "extra", "prerequisite_build",
		"posting_date", "expiration_date", "supported_devices"}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"software_update_incoming"}, cols,
		pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
			e := entries[i]
			devices := e.SupportedDevices
			if devices == nil {
				devices = []string{}
			}
			return []any{e.Platform, e.ProductVersion, e.Build, e.Public, e.Extra, e.PrerequisiteBuild,
				e.PostingDate, e.ExpirationDate, devices}, nil
		}))
	if err != nil {
		return fmt.Errorf("software update catalog: %w", err)
	}
	return nil
}

// SoftwareUpdateFilter narrows the catalog; zero fields do not filter.
type SoftwareUpdateFilter struct {
	Platform string
	Public   *bool
	// AvailableForDeviceID keeps releases supported by the device (by its
	// software update device id, product name or model),
	// still signed and, when its OS version is known, newer than it.
	AvailableForDeviceID int64
}

func (f SoftwareUpdateFilter) where() (string, []any) {
	var w whereBuilder
	if f.Platform != "" {
		w.add("s.platform = %s", f.Platform)
	}
	if f.Public != nil {
		w.add("s.public = %s", *f.Public)
	}
	if f.AvailableForDeviceID != 0 {
		w.add(`EXISTS (SELECT 1 FROM enrolled_devices d WHERE d.id = %s
			AND s.supported_devices && `+catalogIDsOf+`
			AND (s.expiration_date IS NULL OR s.expiration_date >= current_date)
			AND CASE WHEN d.os_version ~ '^[0-9]{1,9}(\.[0-9]{1,9}){0,3}$'
				THEN s.version_parts > string_to_array(d.os_version, '.')::int[]
					OR (s.extra <> '' AND s.prerequisite_build = d.build_version)
				ELSE true END)`, f.AvailableForDeviceID)
	}
	return w.sql(), w.args
}

// ListSoftwareUpdates returns one page of releases in id order.
func (q *Queries) ListSoftwareUpdates(ctx context.Context, f SoftwareUpdateFilter, p Page) ([]SoftwareUpdate, bool, error) {
	where, args := f.where()
	args = append(args, p.After, p.First+1)
	sql := fmt.Sprintf("SELECT %s FROM software_updates s WHERE %s AND s.id > $%d ORDER BY s.id LIMIT $%d",
		softwareUpdateColumns, where, len(args)-1, len(args))
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list software updates: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SoftwareUpdate, error) { return scanSoftwareUpdate(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list software updates: %w", err)
	}
	return trimPage(list, p)
}

// CountSoftwareUpdates counts the releases a filter matches.
func (q *Queries) CountSoftwareUpdates(ctx context.Context, f SoftwareUpdateFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := q.db.QueryRow(ctx, "SELECT count(*) FROM software_updates s WHERE "+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count software updates: %w", err)
	}
	return n, nil
}

// AvailableSoftwareUpdates are the releases available to a device (see
// SoftwareUpdateFilter.AvailableForDeviceID), newest version first.
func (q *Queries) AvailableSoftwareUpdates(ctx context.Context, deviceID int64) ([]SoftwareUpdate, error) {
	where, args := SoftwareUpdateFilter{AvailableForDeviceID: deviceID}.where()
	rows, err := q.db.Query(ctx, "SELECT "+softwareUpdateColumns+" FROM software_updates s WHERE "+where+
		" ORDER BY s.version_parts DESC, s.extra DESC, s.public, s.id", args...)
	if err != nil {
		return nil, fmt.Errorf("available software updates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SoftwareUpdate, error) { return scanSoftwareUpdate(r) })
}
