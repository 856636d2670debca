package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstalledApplication is one entry of a device's InstalledApplicationList answer.
type InstalledApplication struct {
	ID           int64
	Identifier   string
	Name         string
	Version      string
	ShortVersion string
	BundleSize   *float64
	IsManaged    *bool
}

// DeviceCertificate is one entry of a device's CertificateList answer.
type DeviceCertificate struct {
	ID         int64
	CommonName string
	IsIdentity bool
	// Data is the DER certificate.
	Data []byte
}

// DeviceProfile is one entry of a device's ProfileList answer.
type DeviceProfile struct {
	ID           int64
	Identifier   string
	UUID         string
	DisplayName  string
	Organization string
	IsManaged    *bool
	IsEncrypted  bool
}

// ReplaceInstalledApplications replaces a device's application list.
func (q *Queries) ReplaceInstalledApplications(ctx context.Context, deviceID int64, apps []InstalledApplication) error {
	rows := make([][]any, len(apps))
	for i, a := range apps {
		rows[i] = []any{deviceID, a.Identifier, a.Name, a.Version, a.ShortVersion, a.BundleSize, a.IsManaged}
	}
	return q.replaceRows(ctx, "device_installed_applications", deviceID,
		[]string{"device_id", "identifier", "name", "version", "short_version", "bundle_size", "is_managed"}, rows)
}

// ReplaceDeviceCertificates replaces a device's certificate list.
func (q *Queries) ReplaceDeviceCertificates(ctx context.Context, deviceID int64, certs []DeviceCertificate) error {
	rows := make([][]any, len(certs))
	for i, c := range certs {
		rows[i] = []any{deviceID, c.CommonName, c.IsIdentity, c.Data}
	}
	return q.replaceRows(ctx, "device_certificates", deviceID, []string{"device_id", "common_name", "is_identity", "data"}, rows)
}

// ReplaceDeviceProfiles replaces a device's profile list.
func (q *Queries) ReplaceDeviceProfiles(ctx context.Context, deviceID int64, profiles []DeviceProfile) error {
	rows := make([][]any, len(profiles))
	for i, p := range profiles {
		rows[i] = []any{deviceID, p.Identifier, p.UUID, p.DisplayName, p.Organization, p.IsManaged, p.IsEncrypted}
	}
	return q.replaceRows(ctx, "device_profiles", deviceID,
		[]string{"device_id", "identifier", "uuid", "display_name", "organization", "is_managed", "is_encrypted"}, rows)
}

// replaceRows deletes a device's rows of an inventory table and copies the
// new ones in, in one transaction (COPY: lists run to thousands of rows).
func (q *Queries) replaceRows(ctx context.Context, table string, deviceID int64, columns []string, rows [][]any) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE device_id = $1", deviceID); err != nil {
			return fmt.Errorf("replace %s: %w", table, err)
		}
		if len(rows) == 0 {
			return nil
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("replace %s: %w", table, err)
		}
		return nil
	})
}

// ListInstalledApplications returns one page of a device's applications.
func (q *Queries) ListInstalledApplications(ctx context.Context, deviceID int64, p Page) ([]InstalledApplication, bool, error) {
	return listInventory(ctx, q, `SELECT id, identifier, name, version, short_version, bundle_size, is_managed
		FROM device_installed_applications WHERE device_id = $1 AND id > $2 ORDER BY id LIMIT $3`, deviceID, p,
		func(r pgx.Row) (a InstalledApplication, err error) {
			err = r.Scan(&a.ID, &a.Identifier, &a.Name, &a.Version, &a.ShortVersion, &a.BundleSize, &a.IsManaged)
			return a, err
		})
}

// ListDeviceCertificates returns one page of a device's certificates.
func (q *Queries) ListDeviceCertificates(ctx context.Context, deviceID int64, p Page) ([]DeviceCertificate, bool, error) {
	return listInventory(ctx, q, `SELECT id, common_name, is_identity, data FROM device_certificates
		WHERE device_id = $1 AND id > $2 ORDER BY id LIMIT $3`, deviceID, p,
		func(r pgx.Row) (c DeviceCertificate, err error) {
			err = r.Scan(&c.ID, &c.CommonName, &c.IsIdentity, &c.Data)
			return c, err
		})
}

// ListDeviceProfiles returns one page of a device's profiles.
func (q *Queries) ListDeviceProfiles(ctx context.Context, deviceID int64, p Page) ([]DeviceProfile, bool, error) {
	return listInventory(ctx, q, `SELECT id, identifier, uuid, display_name, organization, is_managed, is_encrypted
		FROM device_profiles WHERE device_id = $1 AND id > $2 ORDER BY id LIMIT $3`, deviceID, p,
		func(r pgx.Row) (d DeviceProfile, err error) {
			err = r.Scan(&d.ID, &d.Identifier, &d.UUID, &d.DisplayName, &d.Organization, &d.IsManaged, &d.IsEncrypted)
			return d, err
		})
}

func listInventory[T any](ctx context.Context, q *Queries, sql string, deviceID int64, p Page, scan func(pgx.Row) (T, error)) ([]T, bool, error) {
	rows, err := q.db.Query(ctx, sql, deviceID, p.After, p.First+1)
	if err != nil {
		return nil, false, fmt.Errorf("list inventory: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list inventory: %w", err)
	}
	return trimPage(list, p)
}

// InventoryUpdatedAt is when the device last answered DeviceInformation.
func (q *Queries) InventoryUpdatedAt(ctx context.Context, deviceID int64) (*time.Time, error) {
	var at *time.Time
	err := q.db.QueryRow(ctx, "SELECT inventory_updated_at FROM enrolled_devices WHERE id = $1", deviceID).Scan(&at)
	if err != nil && err != pgx.ErrNoRows {
		return nil, fmt.Errorf("inventory updated at: %w", err)
	}
	return at, nil
}

// MarkInventoryUpdated records a DeviceInformation answer.
func (q *Queries) MarkInventoryUpdated(ctx context.Context, deviceID int64) error {
	_, err := q.db.Exec(ctx, "UPDATE enrolled_devices SET inventory_updated_at = now() WHERE id = $1", deviceID)
	return err
}
