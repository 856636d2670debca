package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ExactCountBound is how many matching rows the counts of long lists
// (devices, DEP devices, a device's commands, jobs, audit events) count one
// by one; past it, they answer the planner's estimate.
const ExactCountBound = 1_000

// DeviceIncludes says what a page of devices reads with each device, so a
// page costs one statement however many of its fields the caller asks for.
type DeviceIncludes struct {
	Blueprint            bool
	Users                bool
	SoftwareUpdateStatus bool
	DeclarationStatus    bool
}

// ListedDevice is a device of a page, with its blueprint and user channels
// when the page included them (nil otherwise, and when it has none).
type ListedDevice struct {
	Device
	Blueprint            *Blueprint
	Users                []DeviceUser
	SoftwareUpdateStatus *SoftwareUpdateStatus
	DeclarationStatus    []DeclarationStatus
}

// The page's blueprint and user channels are read as JSON objects keyed by
// the Go field names, so they decode straight into Blueprint and DeviceUser
// (TestListDevicesWithReadsWhatTheLoadersRead keeps the two in step).
const (
	listedBlueprint = `(SELECT json_build_object('ID', b.id, 'Name', b.name,
		'InventoryInterval', b.inventory_interval_seconds::bigint * 1000000000,
		'CollectApps', b.collect_apps, 'CollectCertificates', b.collect_certificates,
		'CollectProfiles', b.collect_profiles, 'RecoveryPassword', b.recovery_password,
		'RecoveryPasswordRotationDays', COALESCE(b.recovery_password_rotation_days, 0),
		'FileVault', b.filevault, 'CreatedAt', b.created_at, 'UpdatedAt', b.updated_at)
		FROM blueprints b WHERE b.id = d.blueprint_id)`
	listedUsers = `(SELECT json_agg(json_build_object('ID', u.id, 'DeviceID', u.device_id,
		'UserID', u.user_id, 'ShortName', u.short_name, 'LongName', u.long_name,
		'LastSeenAt', u.last_seen_at, 'CreatedAt', u.created_at) ORDER BY u.id)
		FROM mdm_device_users u WHERE u.device_id = d.id)`
	listedSoftwareUpdateStatus = `(SELECT json_build_object('DeviceID', s.device_id, 'InstallState', s.install_state,
		'PendingOSVersion', s.pending_os_version, 'PendingBuildVersion', s.pending_build_version,
		'FailureCount', s.failure_count, 'FailureReason', s.failure_reason, 'FailedAt', s.failed_at,
		'ReportedAt', s.reported_at) FROM device_software_update_status s WHERE s.device_id = d.id)`
	listedDeclarationStatus = `(SELECT json_agg(json_build_object('DeviceID', s.device_id, 'Kind', s.kind,
		'Identifier', s.identifier, 'ServerToken', s.server_token, 'Valid', s.valid, 'Active', s.active,
		'Reasons', s.reasons, 'ReportedAt', s.reported_at) ORDER BY s.kind, s.identifier)
		FROM device_declaration_status s WHERE s.device_id = d.id)`
)

// ListDevices returns one page of devices in id order, and whether more follow.
// Keyset pagination keeps pages stable while devices are inserted.
func (q *Queries) ListDevices(ctx context.Context, f DeviceFilter, p Page) ([]Device, bool, error) {
	listed, more, err := q.ListDevicesWith(ctx, f, p, DeviceIncludes{})
	devices := make([]Device, len(listed))
	for i := range listed {
		devices[i] = listed[i].Device
	}
	return devices, more, err
}

// ListDevicesWith is ListDevices reading, in the same statement, each
// device's blueprint and user channels as inc asks.
func (q *Queries) ListDevicesWith(ctx context.Context, f DeviceFilter, p Page, inc DeviceIncludes) ([]ListedDevice, bool, error) {
	where, args := f.where()
	rows, err := q.db.Query(ctx, listDevicesSQL(where, len(args), inc), append(args, p.After, p.First+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("list devices: %w", err)
	}
	devices, err := pgx.CollectRows(rows, listedDeviceScanner())
	if err != nil {
		return nil, false, fmt.Errorf("list devices: %w", err)
	}
	return trimPage(devices, p)
}

// listDevicesSQL is the page statement: the page's rows in id order (the
// filter's index or the primary key), then for those rows only the blueprint
// and user channels asked for. after and limit follow the filter's n arguments.
func listDevicesSQL(where string, n int, inc DeviceIncludes) string {
	included := func(asked bool, sql string) string {
		if asked {
			return sql
		}
		return "NULL::json"
	}
	return fmt.Sprintf(`SELECT d.*, %s, %s, %s, %s
		FROM (SELECT %s FROM enrolled_devices WHERE %s AND id > $%d ORDER BY id LIMIT $%d) d
		ORDER BY d.id`, included(inc.Blueprint, listedBlueprint), included(inc.Users, listedUsers),
		included(inc.SoftwareUpdateStatus, listedSoftwareUpdateStatus),
		included(inc.DeclarationStatus, listedDeclarationStatus), deviceColumns, where, n+1, n+2)
}

// listedDeviceScanner scans a page's rows. A page holds a few blueprints
// many times over: each is decoded once, and its devices share it.
func listedDeviceScanner() pgx.RowToFunc[ListedDevice] {
	blueprints := map[int64]*Blueprint{}
	return func(row pgx.CollectableRow) (ListedDevice, error) {
		var d ListedDevice
		var blueprint, users, softwareUpdate, declarations []byte
		if err := row.Scan(append(deviceTargets(&d.Device), &blueprint, &users, &softwareUpdate, &declarations)...); err != nil {
			return d, err
		}
		if declarations != nil {
			if err := json.Unmarshal(declarations, &d.DeclarationStatus); err != nil {
				return d, fmt.Errorf("declaration status of device %d: %w", d.ID, err)
			}
			for i := range d.DeclarationStatus {
				s := &d.DeclarationStatus[i]
				s.ReportedAt = s.ReportedAt.Local()
			}
		}
		if softwareUpdate != nil {
			if err := json.Unmarshal(softwareUpdate, &d.SoftwareUpdateStatus); err != nil {
				return d, fmt.Errorf("software update status of device %d: %w", d.ID, err)
			}
			s := d.SoftwareUpdateStatus
			s.ReportedAt, s.FailedAt = s.ReportedAt.Local(), localTime(s.FailedAt)
		}
		if blueprint != nil {
			if d.Blueprint = blueprints[*d.BlueprintID]; d.Blueprint == nil {
				if err := json.Unmarshal(blueprint, &d.Blueprint); err != nil {
					return d, fmt.Errorf("blueprint of device %d: %w", d.ID, err)
				}
				d.Blueprint.CreatedAt, d.Blueprint.UpdatedAt = d.Blueprint.CreatedAt.Local(), d.Blueprint.UpdatedAt.Local()
				blueprints[d.Blueprint.ID] = d.Blueprint
			}
		}
		if users != nil {
			if err := json.Unmarshal(users, &d.Users); err != nil {
				return d, fmt.Errorf("users of device %d: %w", d.ID, err)
			}
		}
		for i := range d.Users {
			u := &d.Users[i]
			u.CreatedAt, u.LastSeenAt = u.CreatedAt.Local(), localTime(u.LastSeenAt)
		}
		return d, nil
	}
}

// localTime gives a time decoded from JSON the location pgx scans
// timestamps into, so both paths print alike.
func localTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	l := t.Local()
	return &l
}

// CountDevices counts the devices a filter matches: exactly up to
// ExactCountBound, past it the planner's estimate (never below the bound).
// A large list is then never read row by row for its count, on any page.
func (q *Queries) CountDevices(ctx context.Context, f DeviceFilter) (int, error) {
	// In id order, the count walks an index kept in that order (the
	// platform's, the blocked devices', the primary key) and stops at the
	// bound wherever the matching rows lie in the table. A search has no such
	// index: unordered, its count takes the trigram indexes' bitmap and stops
	// at the bound too, instead of testing every row in id order.
	n, err := q.boundedCount(ctx, "enrolled_devices", f.build, f.Search == "")
	if err != nil {
		return 0, fmt.Errorf("count devices: %w", err)
	}
	return n, nil
}

// boundedCount counts the rows of table that build's conditions select,
// exactly up to ExactCountBound and past it by the planner's estimate
// (orchard_bounded_count), in id order when ordered.
func (q *Queries) boundedCount(ctx context.Context, table string, build func(*whereBuilder), ordered bool) (int, error) {
	// The function takes the arguments as one text[], each cast back to its
	// type where the condition uses it.
	w := &whereBuilder{}
	w.placeholder = func(n int) string {
		if _, ok := w.args[n-1].(int64); ok {
			return "$1[" + strconv.Itoa(n) + "]::bigint"
		}
		return "$1[" + strconv.Itoa(n) + "]"
	}
	build(w)
	args := make([]string, len(w.args))
	for i, a := range w.args {
		switch v := a.(type) {
		case string:
			args[i] = v
		case int64:
			args[i] = strconv.FormatInt(v, 10)
		default:
			return 0, fmt.Errorf("argument %d is %T, neither text nor bigint", i+1, a)
		}
	}
	query := "SELECT 1 FROM " + table + " WHERE " + w.sql()
	if ordered {
		query += " ORDER BY id"
	}
	var n int
	err := q.db.QueryRow(ctx, "SELECT orchard_bounded_count($1, $2, $3)", query, args, ExactCountBound).Scan(&n)
	return n, err
}
