package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

// Phases of a virtual server's sync state.
const (
	DEPPhaseFetch = "fetch"
	DEPPhaseSync  = "sync"
)

// DEPSyncState is where a server's sync stands: a fetch to start or resume,
// or a finished fetch whose cursor syncs changes.
type DEPSyncState struct {
	Cursor string
	Phase  string
}

// ErrDEPCursorMoved is returned when the stored cursor is not the one a page
// followed: another sync of the same server ran in between.
var ErrDEPCursorMoved = errors.New("the server's DEP cursor moved: another sync ran at the same time")

// DEPSyncStateOf returns a server's sync state.
func (q *Queries) DEPSyncStateOf(ctx context.Context, serverID int64) (DEPSyncState, error) {
	var st DEPSyncState
	err := q.db.QueryRow(ctx, "SELECT cursor, cursor_phase FROM dep_virtual_servers WHERE id = $1", serverID).
		Scan(&st.Cursor, &st.Phase)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("dep virtual server %d: %w", serverID, ErrNotFound)
	}
	return st, err
}

// ResetDEPCursor makes the next sync a full fetch from the start.
func (q *Queries) ResetDEPCursor(ctx context.Context, serverID int64) error {
	_, err := q.db.Exec(ctx, `UPDATE dep_virtual_servers SET cursor = '', cursor_phase = 'fetch', fetch_started_at = NULL
		WHERE id = $1`, serverID)
	return err
}

// DEPPage is one page of devices from Apple with the cursor that follows it.
type DEPPage struct {
	ServerID int64
	// From is the cursor the page was asked with; the stored one must still be it.
	From    string
	Phase   string // the phase the page belongs to: fetch or sync
	Devices []dep.Device
	Cursor  string
	// More is Apple's more_to_follow. A fetch page without more finishes the
	// fetch: devices it did not list are marked deleted, the phase becomes sync.
	More bool
}

// DEPPageCounts is what a page changed.
type DEPPageCounts struct {
	Added, Modified, Deleted int
}

// SaveDEPPage upserts a page of devices and moves the cursor in one
// transaction, so a crash never leaves the cursor ahead of the devices.
func (q *Queries) SaveDEPPage(ctx context.Context, p DEPPage) (DEPPageCounts, error) {
	var c DEPPageCounts
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		if err := moveDEPCursor(ctx, tx, p); err != nil {
			return err
		}
		upserts, deletes := splitDEPPage(p.Devices)
		var err error
		if c.Added, c.Modified, err = upsertDEPDevices(ctx, tx, p.ServerID, upserts, p.Phase == DEPPhaseFetch); err != nil {
			return err
		}
		if c.Deleted, err = deleteDEPDevices(ctx, tx, p.ServerID, deletes); err != nil {
			return err
		}
		if p.Phase == DEPPhaseFetch && !p.More {
			n, err := finishDEPFetch(ctx, tx, p.ServerID)
			c.Deleted += n
			return err
		}
		return nil
	})
	return c, err
}

// Next is the sync state once the page is saved: a fetch without more to
// follow has ended, and its cursor goes on to sync changes.
func (p DEPPage) Next() DEPSyncState {
	if p.Phase == DEPPhaseFetch && !p.More {
		return DEPSyncState{Cursor: p.Cursor, Phase: DEPPhaseSync}
	}
	return DEPSyncState{Cursor: p.Cursor, Phase: p.Phase}
}

func moveDEPCursor(ctx context.Context, tx pgx.Tx, p DEPPage) error {
	phase := p.Next().Phase
	tag, err := tx.Exec(ctx, `UPDATE dep_virtual_servers SET cursor = $3, cursor_phase = $4,
			fetch_started_at = CASE WHEN $5 AND $2 = '' THEN now() ELSE fetch_started_at END,
			last_synced_at = CASE WHEN $6 THEN now() ELSE last_synced_at END
		WHERE id = $1 AND cursor = $2`, p.ServerID, p.From, p.Cursor, phase, p.Phase == DEPPhaseFetch, !p.More)
	if err != nil {
		return fmt.Errorf("dep cursor: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrDEPCursorMoved
	}
	return nil
}

// splitDEPPage keeps each serial's last change, since a page may hold several,
// and separates deletions.
func splitDEPPage(devices []dep.Device) (upserts []dep.Device, deletes []dep.Device) {
	last := make(map[string]int, len(devices))
	for i, d := range devices {
		if d.SerialNumber != "" {
			last[d.SerialNumber] = i
		}
	}
	for i, d := range devices {
		if d.SerialNumber == "" || last[d.SerialNumber] != i {
			continue
		}
		if d.OpType == dep.OpDeleted {
			deletes = append(deletes, d)
		} else {
			upserts = append(upserts, d)
		}
	}
	return upserts, deletes
}

// depColumns turns devices into one array per column, for unnest.
type depColumns struct {
	serial, model, description, color, assetTag, os, family, status, uuid, assignedBy, opType []string
	assignTime, pushTime, assignedDate, opDate                                                []*time.Time
}

func columnsOf(devices []dep.Device) depColumns {
	var c depColumns
	for _, d := range devices {
		c.serial = append(c.serial, d.SerialNumber)
		c.model = append(c.model, d.Model)
		c.description = append(c.description, d.Description)
		c.color = append(c.color, d.Color)
		c.assetTag = append(c.assetTag, d.AssetTag)
		c.os = append(c.os, d.OS)
		c.family = append(c.family, d.DeviceFamily)
		c.status = append(c.status, d.ProfileStatus)
		c.uuid = append(c.uuid, d.ProfileUUID)
		c.assignedBy = append(c.assignedBy, d.DeviceAssignedBy)
		c.opType = append(c.opType, d.OpType)
		c.assignTime = append(c.assignTime, d.ProfileAssignTime)
		c.pushTime = append(c.pushTime, d.ProfilePushTime)
		c.assignedDate = append(c.assignedDate, d.DeviceAssignedDate)
		c.opDate = append(c.opDate, d.OpDate)
	}
	return c
}

// upsertDEPSQL inserts or updates a page in one statement. updated_at moves
// only when a field changed, which is how RETURNING tells modified rows from
// rows Apple listed again unchanged (now() is the transaction's start).
const upsertDEPSQL = `
INSERT INTO dep_devices AS d (virtual_server_id, serial_number, model, description, color, asset_tag, os,
	device_family, profile_status, profile_uuid, device_assigned_by, last_op_type, profile_assign_time,
	profile_push_time, device_assigned_date, last_op_date, fetched_at)
SELECT $1, t.*, CASE WHEN $17 THEN now() END
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
	$10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[]) AS t
ON CONFLICT (serial_number) DO UPDATE SET
	virtual_server_id = EXCLUDED.virtual_server_id, model = EXCLUDED.model, description = EXCLUDED.description,
	color = EXCLUDED.color, asset_tag = EXCLUDED.asset_tag, os = EXCLUDED.os, device_family = EXCLUDED.device_family,
	profile_status = EXCLUDED.profile_status, profile_uuid = EXCLUDED.profile_uuid,
	device_assigned_by = EXCLUDED.device_assigned_by, profile_assign_time = EXCLUDED.profile_assign_time,
	profile_push_time = EXCLUDED.profile_push_time, device_assigned_date = EXCLUDED.device_assigned_date,
	last_op_type = CASE WHEN EXCLUDED.last_op_type <> '' THEN EXCLUDED.last_op_type ELSE d.last_op_type END,
	last_op_date = COALESCE(EXCLUDED.last_op_date, d.last_op_date),
	fetched_at = COALESCE(EXCLUDED.fetched_at, d.fetched_at),
	deleted_at = NULL,
	updated_at = CASE WHEN (d.virtual_server_id, d.model, d.description, d.color, d.asset_tag, d.os, d.device_family,
			d.profile_status, d.profile_uuid, d.device_assigned_by, d.profile_assign_time, d.profile_push_time,
			d.device_assigned_date, d.deleted_at IS NULL)
		IS DISTINCT FROM (EXCLUDED.virtual_server_id, EXCLUDED.model, EXCLUDED.description, EXCLUDED.color,
			EXCLUDED.asset_tag, EXCLUDED.os, EXCLUDED.device_family, EXCLUDED.profile_status, EXCLUDED.profile_uuid,
			EXCLUDED.device_assigned_by, EXCLUDED.profile_assign_time, EXCLUDED.profile_push_time,
			EXCLUDED.device_assigned_date, true)
		THEN now() ELSE d.updated_at END
RETURNING xmax = 0, updated_at = now()`

func upsertDEPDevices(ctx context.Context, tx pgx.Tx, serverID int64, devices []dep.Device, fetch bool) (added, modified int, err error) {
	if len(devices) == 0 {
		return 0, 0, nil
	}
	c := columnsOf(devices)
	rows, err := tx.Query(ctx, upsertDEPSQL, serverID, c.serial, c.model, c.description, c.color, c.assetTag, c.os,
		c.family, c.status, c.uuid, c.assignedBy, c.opType, c.assignTime, c.pushTime, c.assignedDate, c.opDate, fetch)
	if err != nil {
		return 0, 0, fmt.Errorf("upsert dep devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var inserted, changed bool
		if err := rows.Scan(&inserted, &changed); err != nil {
			return 0, 0, fmt.Errorf("upsert dep devices: %w", err)
		}
		switch {
		case inserted:
			added++
		case changed:
			modified++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("upsert dep devices: %w", err)
	}
	return added, modified, nil
}

func deleteDEPDevices(ctx context.Context, tx pgx.Tx, serverID int64, devices []dep.Device) (int, error) {
	if len(devices) == 0 {
		return 0, nil
	}
	c := columnsOf(devices)
	tag, err := tx.Exec(ctx, `UPDATE dep_devices AS d SET deleted_at = now(), last_op_type = 'deleted',
			last_op_date = t.op_date, updated_at = now()
		FROM unnest($2::text[], $3::timestamptz[]) AS t(serial, op_date)
		WHERE d.serial_number = t.serial AND d.virtual_server_id = $1 AND d.deleted_at IS NULL`, serverID, c.serial, c.opDate)
	if err != nil {
		return 0, fmt.Errorf("delete dep devices: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// finishDEPFetch marks deleted the devices the finished fetch did not list.
func finishDEPFetch(ctx context.Context, tx pgx.Tx, serverID int64) (int, error) {
	tag, err := tx.Exec(ctx, `UPDATE dep_devices AS d SET deleted_at = now(), last_op_type = 'deleted',
			last_op_date = now(), updated_at = now()
		FROM dep_virtual_servers AS v
		WHERE v.id = $1 AND d.virtual_server_id = v.id AND d.deleted_at IS NULL
			AND (d.fetched_at IS NULL OR d.fetched_at < v.fetch_started_at)`, serverID)
	if err != nil {
		return 0, fmt.Errorf("finish dep fetch: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
