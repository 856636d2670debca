package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

// LocationAsset is an app or book of a location, with Apple's counts.
type LocationAsset struct {
	ID               int64
	LocationID       int64
	AdamID           string
	PricingParam     string
	ProductType      string
	Platforms        []string
	Name             *string
	DeviceAssignable bool
	Revocable        bool
	AssignedCount    int
	AvailableCount   int
	RetiredCount     int
	TotalCount       int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// LocationAssetFilter narrows ListLocationAssets; zero fields match everything.
type LocationAssetFilter struct {
	AdamID, PricingParam string
	LocationID           int64
	// After is the id to list after; First bounds the page (1-1000).
	After int64
	First int
}

const locationAssetColumns = `id, location_id, adam_id, pricing_param, product_type, platforms, name, device_assignable,
	revocable, assigned_count, available_count, retired_count, total_count, created_at, updated_at`

func scanLocationAsset(row pgx.Row) (LocationAsset, error) {
	var a LocationAsset
	err := row.Scan(&a.ID, &a.LocationID, &a.AdamID, &a.PricingParam, &a.ProductType, &a.Platforms, &a.Name,
		&a.DeviceAssignable, &a.Revocable, &a.AssignedCount, &a.AvailableCount, &a.RetiredCount, &a.TotalCount,
		&a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// ListLocationAssets lists assets in id order, a page at a time.
func (q *Queries) ListLocationAssets(ctx context.Context, f LocationAssetFilter) ([]LocationAsset, error) {
	if f.First <= 0 || f.First > 1000 {
		f.First = 1000
	}
	rows, err := q.db.Query(ctx, "SELECT "+locationAssetColumns+` FROM location_assets
		WHERE ($1 = '' OR adam_id = $1) AND ($2 = '' OR pricing_param = $2) AND ($3 = 0 OR location_id = $3) AND id > $4
		ORDER BY id LIMIT $5`, f.AdamID, f.PricingParam, f.LocationID, f.After, f.First)
	if err != nil {
		return nil, fmt.Errorf("list location assets: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LocationAsset, error) { return scanLocationAsset(r) })
}

// LocationAsset returns one asset.
func (q *Queries) LocationAsset(ctx context.Context, id int64) (LocationAsset, error) {
	return scanLocationAsset(q.db.QueryRow(ctx, "SELECT "+locationAssetColumns+" FROM location_assets WHERE id = $1", id))
}

// StartLocationSync forgets what earlier syncs of the location staged.
func (q *Queries) StartLocationSync(ctx context.Context, locationID int64) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		// Notifications from now on may be missing from the snapshot
		// (FinishLocationSync applies them again).
		if _, err := tx.Exec(ctx, "UPDATE locations SET sync_started_at = now() WHERE id = $1", locationID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM location_sync_assets WHERE location_id = $1", locationID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM location_sync_assignments WHERE location_id = $1", locationID)
		return err
	})
}

// RestartLocationSync drops what a sync staged of one kind ("assets" or
// "assignments"): Apple's data changed under it.
func (q *Queries) RestartLocationSync(ctx context.Context, locationID, syncID int64, kind string) error {
	table := "location_sync_assets"
	if kind == "assignments" {
		table = "location_sync_assignments"
	}
	_, err := q.db.Exec(ctx, "DELETE FROM "+table+" WHERE location_id = $1 AND sync_id = $2", locationID, syncID)
	return err
}

// StageLocationAssets writes one page of Apple's assets, in one statement.
// An asset seen again (Apple's pages shift when data changes) takes the
// later answer.
func (q *Queries) StageLocationAssets(ctx context.Context, locationID, syncID int64, assets []appsbooks.Asset) error {
	last := map[[2]string]int{}
	for i, a := range assets {
		last[[2]string{a.AdamID, a.PricingParam}] = i
	}
	var cols [10][]any
	for i, a := range assets {
		if last[[2]string{a.AdamID, a.PricingParam}] != i {
			continue
		}
		for c, v := range []any{a.AdamID, a.PricingParam, a.ProductType, strings.Join(a.SupportedPlatforms, ","),
			a.DeviceAssignable, a.Revocable, a.AssignedCount, a.AvailableCount, a.RetiredCount, a.TotalCount} {
			cols[c] = append(cols[c], v)
		}
	}
	_, err := q.db.Exec(ctx, `INSERT INTO location_sync_assets (location_id, sync_id, adam_id, pricing_param, product_type,
			platforms, device_assignable, revocable, assigned_count, available_count, retired_count, total_count)
		SELECT $1, $2, a, p, t, CASE WHEN pl = '' THEN '{}' ELSE string_to_array(pl, ',') END, d, r, ac, av, rc, tc
		FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::bool[], $9::int[], $10::int[],
			$11::int[], $12::int[]) AS u(a, p, t, pl, d, r, ac, av, rc, tc)
		ON CONFLICT (location_id, sync_id, adam_id, pricing_param) DO UPDATE SET product_type = EXCLUDED.product_type,
			platforms = EXCLUDED.platforms, device_assignable = EXCLUDED.device_assignable, revocable = EXCLUDED.revocable,
			assigned_count = EXCLUDED.assigned_count, available_count = EXCLUDED.available_count,
			retired_count = EXCLUDED.retired_count, total_count = EXCLUDED.total_count`,
		locationID, syncID, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9])
	if err != nil {
		return fmt.Errorf("stage assets: %w", err)
	}
	return nil
}

// StageLocationAssignments writes one page of Apple's device assignments.
func (q *Queries) StageLocationAssignments(ctx context.Context, locationID, syncID int64, as []appsbooks.Assignment) error {
	adam, pricing, serials := make([]string, 0, len(as)), make([]string, 0, len(as)), make([]string, 0, len(as))
	for _, a := range as {
		if a.SerialNumber == "" {
			continue // a user's licence: orchard assigns to devices only
		}
		adam, pricing, serials = append(adam, a.AdamID), append(pricing, a.PricingParam), append(serials, a.SerialNumber)
	}
	_, err := q.db.Exec(ctx, `INSERT INTO location_sync_assignments (location_id, sync_id, adam_id, pricing_param, serial_number)
		SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
		locationID, syncID, adam, pricing, serials)
	return err
}
