package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"
)

// Device is an enrolled device, with every field of Zentral's device serializer.
type Device struct {
	ID                       int64
	UDID                     string
	SerialNumber             string
	Name                     string
	Model                    string
	Platform                 string
	ProductName              string
	SoftwareUpdateDeviceID   string
	OSVersion                string
	BuildVersion             string
	AppleSilicon             bool
	CertNotValidAfter        *time.Time
	BlueprintID              *int64
	AwaitingConfiguration    bool
	DeclarativeManagement    bool
	DEPEnrollment            bool
	UserEnrollment           bool
	UserApprovedEnrollment   bool
	Supervised               bool
	BootstrapTokenEscrowed   bool
	FileVaultEnabled         bool
	FileVaultPRKEscrowed     bool
	ActivationLockManageable bool
	LastSeenAt               *time.Time
	LastNotifiedAt           *time.Time
	PushTokenInvalidAt       *time.Time
	CheckoutAt               *time.Time
	BlockedAt                *time.Time
	// ReenrollmentAllowedUntil: an administrator let the device bind one new
	// identity before then (AllowReenrollment).
	ReenrollmentAllowedUntil *time.Time
	CreatedAt                time.Time
	UpdatedAt                time.Time
}

const deviceColumns = `id, udid, serial_number, name, model, platform, product_name, software_update_device_id,
	os_version, build_version,
	apple_silicon, cert_not_valid_after, blueprint_id, awaiting_configuration, declarative_management,
	dep_enrollment, user_enrollment, user_approved_enrollment, supervised, bootstrap_token_escrowed,
	filevault_enabled, filevault_prk_escrowed, activation_lock_manageable, last_seen_at,
	last_notified_at, push_token_invalid_at, checkout_at, blocked_at, reenroll_allowed_until, created_at, updated_at`

// deviceTargets are the scan targets of deviceColumns, in their order.
func deviceTargets(d *Device) []any {
	return []any{&d.ID, &d.UDID, &d.SerialNumber, &d.Name, &d.Model, &d.Platform, &d.ProductName,
		&d.SoftwareUpdateDeviceID, &d.OSVersion,
		&d.BuildVersion, &d.AppleSilicon, &d.CertNotValidAfter, &d.BlueprintID,
		&d.AwaitingConfiguration, &d.DeclarativeManagement, &d.DEPEnrollment, &d.UserEnrollment,
		&d.UserApprovedEnrollment, &d.Supervised, &d.BootstrapTokenEscrowed, &d.FileVaultEnabled,
		&d.FileVaultPRKEscrowed, &d.ActivationLockManageable, &d.LastSeenAt, &d.LastNotifiedAt,
		&d.PushTokenInvalidAt, &d.CheckoutAt, &d.BlockedAt, &d.ReenrollmentAllowedUntil, &d.CreatedAt, &d.UpdatedAt}
}

func scanDevice(row pgx.Row) (Device, error) {
	var d Device
	err := row.Scan(deviceTargets(&d)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// DeviceFilter narrows a device list; zero fields do not filter.
type DeviceFilter struct {
	SerialNumber string
	UDID         string
	Platform     string
	Blocked      *bool
	// Search matches part of the name, serial number, UDID or model.
	Search string
}

func (f DeviceFilter) where() (string, []any) {
	var w whereBuilder
	f.build(&w)
	return w.sql(), w.args
}

// build adds the filter's conditions to w.
func (f DeviceFilter) build(w *whereBuilder) {
	if f.SerialNumber != "" {
		w.add("serial_number = %s", f.SerialNumber)
	}
	if f.UDID != "" {
		w.add("udid = %s", f.UDID)
	}
	if f.Platform != "" {
		w.add("platform = %s", f.Platform)
	}
	if f.Blocked != nil {
		if *f.Blocked {
			w.add("blocked_at IS NOT NULL")
		} else {
			w.add("blocked_at IS NULL")
		}
	}
	if f.Search != "" {
		w.add("(name ILIKE %[1]s OR serial_number ILIKE %[1]s OR udid ILIKE %[1]s OR model ILIKE %[1]s)",
			"%"+escapeLike(f.Search)+"%")
	}
}

// Page asks for First rows after the row with id After (0: from the start).
type Page struct {
	First int
	After int64
}

// trimPage cuts a list read with First+1 rows to the page, and says whether
// more follow.
func trimPage[T any](list []T, p Page) ([]T, bool, error) {
	if len(list) > p.First {
		return list[:p.First], true, nil
	}
	return list, false, nil
}

// Device returns one device.
func (q *Queries) Device(ctx context.Context, id int64) (Device, error) {
	d, err := scanDevice(q.db.QueryRow(ctx, "SELECT "+deviceColumns+" FROM enrolled_devices WHERE id = $1", id))
	if err != nil {
		return d, fmt.Errorf("device %d: %w", id, err)
	}
	return d, nil
}

// DeviceForUpdate returns one device and locks its row until the
// transaction ends, so a check of its state (blocked, checked out) holds for
// what the transaction does next.
func (q *Queries) DeviceForUpdate(ctx context.Context, id int64) (Device, error) {
	d, err := scanDevice(q.db.QueryRow(ctx, "SELECT "+deviceColumns+" FROM enrolled_devices WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return d, fmt.Errorf("device %d: %w", id, err)
	}
	return d, nil
}

// SetDeviceBlocked blocks or unblocks a device inside tx. Blocking twice
// keeps the first blocked_at. A blocked device was told to leave management
// (401) and may have dropped its identity, so unblocking allows it one
// re-enrollment with a new identity (see AllowReenrollment).
func (q *Queries) SetDeviceBlocked(ctx context.Context, id int64, blocked bool) (Device, error) {
	sql := `UPDATE enrolled_devices SET blocked_at = COALESCE(blocked_at, now()), updated_at = now()
		WHERE id = $1 RETURNING ` + deviceColumns
	action := "device.block"
	if !blocked {
		sql = `UPDATE enrolled_devices SET blocked_at = NULL, updated_at = now(),
			reenroll_allowed_until = now() + '` + ReenrollmentWindow.String() + `'::interval
			WHERE id = $1 RETURNING ` + deviceColumns
		action = "device.unblock"
	}
	d, err := scanDevice(q.db.QueryRow(ctx, sql, id))
	if err != nil {
		return d, fmt.Errorf("%s %d: %w", action, id, err)
	}
	return d, nil
}

// whereBuilder joins conditions with AND, numbering placeholders as it goes.
type whereBuilder struct {
	conds []string
	args  []any
	// placeholder writes the nth argument's placeholder; nil writes $n.
	placeholder func(n int) string
}

// add appends a condition; each %s (or %[1]s) in cond is the next argument's placeholder.
func (w *whereBuilder) add(cond string, arg ...any) {
	if len(arg) == 0 {
		w.conds = append(w.conds, cond)
		return
	}
	w.args = append(w.args, arg[0])
	p := "$" + strconv.Itoa(len(w.args))
	if w.placeholder != nil {
		p = w.placeholder(len(w.args))
	}
	w.conds = append(w.conds, fmt.Sprintf(cond, p))
}

func (w *whereBuilder) sql() string {
	if len(w.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(w.conds, " AND ")
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// secretColumns are the sealed columns of enrolled_devices a caller may read.
var secretColumns = map[string]bool{
	"filevault_prk_sealed": true, "recovery_password_sealed": true, "recovery_password_pending_sealed": true,
	"bootstrap_token_sealed": true, "unlock_token_sealed": true, "lock_pin_sealed": true,
}

// OpenDeviceSecret returns a device secret in the clear (nil when none is
// stored), read inside tx so callers can audit the reveal with it.
func (q *Queries) OpenDeviceSecret(ctx context.Context, id int64, column string) ([]byte, error) {
	if !secretColumns[column] {
		return nil, fmt.Errorf("device secret: unknown column %q", column)
	}
	var sealed *string
	err := q.db.QueryRow(ctx, "SELECT "+column+" FROM enrolled_devices WHERE id = $1", id).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil || sealed == nil {
		return nil, err
	}
	plain, err := q.sealer.Open(*sealed, deviceSecretPlace(id, column))
	if err != nil {
		return nil, fmt.Errorf("open %s of device %d: %w", column, id, err)
	}
	return plain, nil
}

// deviceSecretPlace binds a sealed device secret to its row and column.
func deviceSecretPlace(id int64, column string) seal.Place {
	return seal.Place{Table: "enrolled_devices", Column: column, RowID: strconv.FormatInt(id, 10)}
}

// SetDeviceSecret seals and stores a device secret.
func (q *Queries) SetDeviceSecret(ctx context.Context, db DB, id int64, column string, secret []byte) error {
	if !secretColumns[column] {
		return fmt.Errorf("device secret: unknown column %q", column)
	}
	sealed, err := q.sealer.Seal(secret, deviceSecretPlace(id, column))
	if err != nil {
		return err
	}
	tag, err := db.Exec(ctx, "UPDATE enrolled_devices SET "+column+" = $2, updated_at = now() WHERE id = $1", id, sealed)
	if err != nil {
		return fmt.Errorf("store device secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteDevice deletes a device's record and what hangs on it (commands,
// users, inventory).
func (q *Queries) DeleteDevice(ctx context.Context, id int64) error {
	tag, err := q.db.Exec(ctx, "DELETE FROM enrolled_devices WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete device %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("device %d: %w", id, ErrNotFound)
	}
	return nil
}
