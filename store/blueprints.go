package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrConflict is returned when a unique value is already taken.
var ErrConflict = errors.New("already exists")

// Blueprint groups the settings a set of devices gets.
type Blueprint struct {
	ID   int64
	Name string
	BlueprintSettings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Collection levels of an inventory list.
const (
	CollectNo          = "NO"
	CollectManagedOnly = "MANAGED_ONLY"
	CollectAll         = "ALL"
)

// BlueprintSettings are a blueprint's policy; the service checks them.
type BlueprintSettings struct {
	InventoryInterval   time.Duration
	CollectApps         string
	CollectCertificates string
	CollectProfiles     string
	// RecoveryPassword: orchard sets (and rotates) the recovery lock or
	// firmware password of the blueprint's Macs.
	RecoveryPassword bool
	// RecoveryPasswordRotationDays: 0 never rotates.
	RecoveryPasswordRotationDays int
	// FileVault is FileVaultOff or FileVaultEscrow.
	FileVault string
}

// FileVault settings of a blueprint.
const (
	FileVaultOff    = "OFF"
	FileVaultEscrow = "ESCROW"
)

const blueprintColumns = `id, name, inventory_interval_seconds, collect_apps, collect_certificates, collect_profiles,
	recovery_password, COALESCE(recovery_password_rotation_days, 0), filevault, created_at, updated_at`

func scanBlueprint(row pgx.Row) (Blueprint, error) {
	var b Blueprint
	var seconds int
	err := row.Scan(&b.ID, &b.Name, &seconds, &b.CollectApps, &b.CollectCertificates, &b.CollectProfiles,
		&b.RecoveryPassword, &b.RecoveryPasswordRotationDays, &b.FileVault, &b.CreatedAt, &b.UpdatedAt)
	b.InventoryInterval = time.Duration(seconds) * time.Second
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// BlueprintsByIDs loads blueprints for a dataloader: results in the order of ids.
func (q *Queries) BlueprintsByIDs(ctx context.Context, ids []int64) ([]*Blueprint, error) {
	return loadByKeys(ctx, q.db, "blueprints", "SELECT "+blueprintColumns+" FROM blueprints WHERE id = ANY($1)",
		ids, scanBlueprint, func(b *Blueprint) int64 { return b.ID })
}

// ListBlueprints returns one page of blueprints in id order.
func (q *Queries) ListBlueprints(ctx context.Context, p Page) ([]Blueprint, bool, error) {
	rows, err := q.db.Query(ctx, "SELECT "+blueprintColumns+" FROM blueprints WHERE id > $1 ORDER BY id LIMIT $2", p.After, p.First+1)
	if err != nil {
		return nil, false, fmt.Errorf("list blueprints: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Blueprint, error) { return scanBlueprint(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list blueprints: %w", err)
	}
	return trimPage(list, p)
}

// DefaultBlueprintSettings are a new blueprint's settings when none are given.
func DefaultBlueprintSettings() BlueprintSettings {
	return BlueprintSettings{InventoryInterval: 24 * time.Hour, CollectApps: CollectNo, CollectCertificates: CollectNo,
		CollectProfiles: CollectNo, FileVault: FileVaultOff}
}

// CreateBlueprint inserts a blueprint with the default settings.
func (q *Queries) CreateBlueprint(ctx context.Context, name string) (Blueprint, error) {
	return q.InsertBlueprint(ctx, name, DefaultBlueprintSettings())
}

// InsertBlueprint inserts a blueprint; ErrConflict when the name is taken.
func (q *Queries) InsertBlueprint(ctx context.Context, name string, s BlueprintSettings) (Blueprint, error) {
	b, err := scanBlueprint(q.db.QueryRow(ctx, `INSERT INTO blueprints (name, inventory_interval_seconds, collect_apps,
			collect_certificates, collect_profiles, recovery_password, recovery_password_rotation_days, filevault)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, 0), $8)
		ON CONFLICT (name) DO NOTHING RETURNING `+blueprintColumns, name, int(s.InventoryInterval/time.Second),
		s.CollectApps, s.CollectCertificates, s.CollectProfiles, s.RecoveryPassword, s.RecoveryPasswordRotationDays, s.FileVault))
	if errors.Is(err, ErrNotFound) {
		return b, fmt.Errorf("blueprint %q: %w", name, ErrConflict)
	}
	if err != nil {
		return b, fmt.Errorf("create blueprint: %w", err)
	}
	return b, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// CountBlueprints counts all blueprints.
func (q *Queries) CountBlueprints(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, "SELECT count(*) FROM blueprints").Scan(&n)
	return n, err
}
