package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DEPDevice is a device Apple lists for a virtual server.
type DEPDevice struct {
	ID                 int64
	VirtualServerID    int64
	SerialNumber       string
	Model              string
	Description        string
	Color              string
	AssetTag           string
	OS                 string
	DeviceFamily       string
	ProfileStatus      string
	ProfileUUID        string
	ProfileAssignTime  *time.Time
	ProfilePushTime    *time.Time
	DeviceAssignedDate *time.Time
	DeviceAssignedBy   string
	OpType             string
	OpDate             *time.Time
	DeletedAt          *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

const depDeviceColumns = `id, virtual_server_id, serial_number, model, description, color, asset_tag, os,
	device_family, profile_status, profile_uuid, profile_assign_time, profile_push_time, device_assigned_date,
	device_assigned_by, last_op_type, last_op_date, deleted_at, created_at, updated_at`

func scanDEPDevice(row pgx.Row) (DEPDevice, error) {
	var d DEPDevice
	err := row.Scan(&d.ID, &d.VirtualServerID, &d.SerialNumber, &d.Model, &d.Description, &d.Color, &d.AssetTag,
		&d.OS, &d.DeviceFamily, &d.ProfileStatus, &d.ProfileUUID, &d.ProfileAssignTime, &d.ProfilePushTime,
		&d.DeviceAssignedDate, &d.DeviceAssignedBy, &d.OpType, &d.OpDate, &d.DeletedAt, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// DEPDeviceFilter narrows the DEP device list; zero fields do not filter.
type DEPDeviceFilter struct {
	SerialNumber    string
	VirtualServerID int64
	ProfileStatus   string
	OpType          string
	// IncludeDeleted lists devices Apple no longer lists, too.
	IncludeDeleted bool
}

func (f DEPDeviceFilter) where() (string, []any) {
	var w whereBuilder
	f.build(&w)
	return w.sql(), w.args
}

func (f DEPDeviceFilter) build(w *whereBuilder) {
	if f.SerialNumber != "" {
		w.add("serial_number = %s", f.SerialNumber)
	}
	if f.VirtualServerID != 0 {
		w.add("virtual_server_id = %s", f.VirtualServerID)
	}
	if f.ProfileStatus != "" {
		w.add("profile_status = %s", f.ProfileStatus)
	}
	if f.OpType != "" {
		w.add("last_op_type = %s", f.OpType)
	}
	if !f.IncludeDeleted && f.OpType != "deleted" {
		w.add("deleted_at IS NULL")
	}
}

// ListDEPDevices returns one page of DEP devices in id order, and whether more follow.
func (q *Queries) ListDEPDevices(ctx context.Context, f DEPDeviceFilter, p Page) ([]DEPDevice, bool, error) {
	where, args := f.where()
	args = append(args, p.After, p.First+1)
	sql := fmt.Sprintf("SELECT %s FROM dep_devices WHERE %s AND id > $%d ORDER BY id LIMIT $%d",
		depDeviceColumns, where, len(args)-1, len(args))
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list dep devices: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DEPDevice, error) { return scanDEPDevice(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list dep devices: %w", err)
	}
	return trimPage(list, p)
}

// CountDEPDevices counts the DEP devices a filter matches: exactly up to
// ExactCountBound, past it the planner's estimate, as CountDevices.
func (q *Queries) CountDEPDevices(ctx context.Context, f DEPDeviceFilter) (int, error) {
	n, err := q.boundedCount(ctx, "dep_devices", f.build, true)
	if err != nil {
		return 0, fmt.Errorf("count dep devices: %w", err)
	}
	return n, nil
}

// DEPDeviceBySerial returns a DEP device by serial number.
func (q *Queries) DEPDeviceBySerial(ctx context.Context, serial string) (DEPDevice, error) {
	return scanDEPDevice(q.db.QueryRow(ctx, "SELECT "+depDeviceColumns+" FROM dep_devices WHERE serial_number = $1", serial))
}

// SetDEPProfileStatus records what Apple answered to an assign or remove for
// the serials it accepted.
func (q *Queries) SetDEPProfileStatus(ctx context.Context, serials []string, status, profileUUID string) error {
	_, err := q.db.Exec(ctx, `UPDATE dep_devices SET profile_status = $2, profile_uuid = $3,
		profile_assign_time = CASE WHEN $2 = 'assigned' THEN now() END, updated_at = now()
		WHERE serial_number = ANY($1)`, serials, status, profileUUID)
	if err != nil {
		return fmt.Errorf("dep profile status: %w", err)
	}
	return nil
}
