package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	w, err := q.BeginDEPPage(ctx, p)
	if err != nil {
		return DEPPageCounts{}, err
	}
	if err := w.Write(ctx); err != nil {
		return DEPPageCounts{}, err
	}
	return w.Commit(ctx)
}

// DEPPageWrite is a page's transaction, in three steps: begun, its devices
// written, its cursor moved and committed. Pages must be begun in order: a
// device's fetched_at is its page transaction's start, and the end of a
// fetch marks deleted the devices fetched before the fetch's first page
// began. Two pages may be written at the same time when OverlapsDEPPage
// says so: they touch different rows, and Commit keeps cursors in order.
type DEPPageWrite struct {
	tx      pgx.Tx
	page    DEPPage
	upserts depColumns
	deletes depColumns
	counts  DEPPageCounts
}

// BeginDEPPage begins a page's transaction.
func (q *Queries) BeginDEPPage(ctx context.Context, p DEPPage) (*DEPPageWrite, error) {
	upserts, deletes := splitDEPPage(p.Devices)
	tx, err := q.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &DEPPageWrite{tx: tx, page: p, upserts: upserts, deletes: deletes}, nil
}

// Write upserts the page's devices, in one round trip; on failure the
// transaction is rolled back.
func (w *DEPPageWrite) Write(ctx context.Context) error {
	if w.upserts.len() == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueUpsertDEPDevices(b, w.page.ServerID, w.upserts, w.page.Phase == DEPPhaseFetch, &w.counts)
	if err := w.tx.SendBatch(ctx, b).Close(); err != nil {
		w.Rollback(ctx)
		return err
	}
	return nil
}

// Commit moves the cursor, if it is still the one the page followed (else
// ErrDEPCursorMoved and nothing of the page stays), applies the page's
// deletions and, at the end of a fetch, marks deleted what it did not list.
// These read what pages before committed, so a page commits only after them.
func (w *DEPPageWrite) Commit(ctx context.Context) (DEPPageCounts, error) {
	b := &pgx.Batch{}
	queueMoveDEPCursor(b, w.page)
	if w.deletes.len() > 0 {
		queueDeleteDEPDevices(b, w.page.ServerID, w.deletes, &w.counts.Deleted)
	}
	if w.page.Phase == DEPPhaseFetch && !w.page.More {
		queueFinishDEPFetch(b, w.page.ServerID, &w.counts.Deleted)
	}
	if err := w.tx.SendBatch(ctx, b).Close(); err != nil {
		w.Rollback(ctx)
		return DEPPageCounts{}, err
	}
	if err := w.tx.Commit(ctx); err != nil {
		return DEPPageCounts{}, err
	}
	return w.counts, nil
}

// Rollback drops the page's transaction.
func (w *DEPPageWrite) Rollback(ctx context.Context) {
	_ = w.tx.Rollback(context.WithoutCancel(ctx))
}

// OverlapsDEPPage says whether next may be written while prev is: both are
// pages of a fetch that goes on after prev, without deletions, and no serial
// is in both. Anything else waits for prev to commit: a deletion, or the
// end of a fetch, reads rows an uncommitted page could hold.
func OverlapsDEPPage(prev, next DEPPage) bool {
	if prev.Phase != DEPPhaseFetch || !prev.More || next.Phase != DEPPhaseFetch {
		return false
	}
	serials := make(map[string]struct{}, len(prev.Devices))
	for i := range prev.Devices {
		if prev.Devices[i].OpType == dep.OpDeleted {
			return false
		}
		serials[prev.Devices[i].SerialNumber] = struct{}{}
	}
	for i := range next.Devices {
		if _, both := serials[next.Devices[i].SerialNumber]; both || next.Devices[i].OpType == dep.OpDeleted {
			return false
		}
	}
	return true
}

// Next is the sync state once the page is saved: a fetch without more to
// follow has ended, and its cursor goes on to sync changes.
func (p DEPPage) Next() DEPSyncState {
	if p.Phase == DEPPhaseFetch && !p.More {
		return DEPSyncState{Cursor: p.Cursor, Phase: DEPPhaseSync}
	}
	return DEPSyncState{Cursor: p.Cursor, Phase: p.Phase}
}

// queueMoveDEPCursor moves the cursor only if it is still the one the page
// followed; otherwise the batch fails with ErrDEPCursorMoved (another sync
// ran, or pages were committed out of order).
func queueMoveDEPCursor(b *pgx.Batch, p DEPPage) {
	b.Queue(`UPDATE dep_virtual_servers SET cursor = $3, cursor_phase = $4,
			fetch_started_at = CASE WHEN $5 AND $2 = '' THEN now() ELSE fetch_started_at END,
			last_synced_at = CASE WHEN $6 THEN now() ELSE last_synced_at END
		WHERE id = $1 AND cursor = $2`, p.ServerID, p.From, p.Cursor, p.Next().Phase, p.Phase == DEPPhaseFetch, !p.More).
		Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return ErrDEPCursorMoved
			}
			return nil
		})
}

// depColumns is a set of devices as one array per column, for unnest.
type depColumns struct {
	serial, model, description, color, assetTag, os, family, status, uuid, assignedBy, opType []string
	assignTime, pushTime, assignedDate, opDate                                                []*time.Time
}

func newDEPColumns(capacity int) depColumns {
	strs := func() []string { return make([]string, 0, capacity) }
	times := func() []*time.Time { return make([]*time.Time, 0, capacity) }
	return depColumns{serial: strs(), model: strs(), description: strs(), color: strs(), assetTag: strs(), os: strs(),
		family: strs(), status: strs(), uuid: strs(), assignedBy: strs(), opType: strs(),
		assignTime: times(), pushTime: times(), assignedDate: times(), opDate: times()}
}

func (c *depColumns) len() int { return len(c.serial) }

func (c *depColumns) add(d *dep.Device) {
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

// splitDEPPage keeps each serial's last change, since a page may hold several,
// and separates deletions, straight into columns.
func splitDEPPage(devices []dep.Device) (upserts, deletes depColumns) {
	last := make(map[string]int, len(devices))
	for i := range devices {
		if s := devices[i].SerialNumber; s != "" {
			last[s] = i
		}
	}
	upserts = newDEPColumns(len(last))
	for i := range devices {
		d := &devices[i]
		if d.SerialNumber == "" || last[d.SerialNumber] != i {
			continue
		}
		if d.OpType == dep.OpDeleted {
			deletes.add(d)
		} else {
			upserts.add(d)
		}
	}
	return upserts, deletes
}

// upsertDEPSQL inserts or updates a page in one statement. updated_at moves
// only when a field changed, which is how RETURNING tells modified rows from
// rows Apple listed again unchanged (now() is the transaction's start); the
// counts come back as one row.
const upsertDEPSQL = `
WITH written AS (
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
RETURNING xmax = 0 AS added, updated_at = now() AS changed)
SELECT count(*) FILTER (WHERE added), count(*) FILTER (WHERE changed AND NOT added) FROM written`

func queueUpsertDEPDevices(b *pgx.Batch, serverID int64, c depColumns, fetch bool, counts *DEPPageCounts) {
	b.Queue(upsertDEPSQL, serverID, c.serial, c.model, c.description, c.color, c.assetTag, c.os,
		c.family, c.status, c.uuid, c.assignedBy, c.opType, c.assignTime, c.pushTime, c.assignedDate, c.opDate, fetch).
		QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&counts.Added, &counts.Modified); err != nil {
				return fmt.Errorf("upsert dep devices: %w", err)
			}
			return nil
		})
}

func queueDeleteDEPDevices(b *pgx.Batch, serverID int64, c depColumns, deleted *int) {
	b.Queue(`UPDATE dep_devices AS d SET deleted_at = now(), last_op_type = 'deleted',
			last_op_date = t.op_date, updated_at = now()
		FROM unnest($2::text[], $3::timestamptz[]) AS t(serial, op_date)
		WHERE d.serial_number = t.serial AND d.virtual_server_id = $1 AND d.deleted_at IS NULL`, serverID, c.serial, c.opDate).
		Exec(countInto(deleted))
}

// queueFinishDEPFetch marks deleted the devices the finished fetch did not list.
func queueFinishDEPFetch(b *pgx.Batch, serverID int64, deleted *int) {
	b.Queue(`UPDATE dep_devices AS d SET deleted_at = now(), last_op_type = 'deleted',
			last_op_date = now(), updated_at = now()
		FROM dep_virtual_servers AS v
		WHERE v.id = $1 AND d.virtual_server_id = v.id AND d.deleted_at IS NULL
			AND (d.fetched_at IS NULL OR d.fetched_at < v.fetch_started_at)`, serverID).
		Exec(countInto(deleted))
}

// countInto adds the rows a statement changed to n.
func countInto(n *int) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		*n += int(tag.RowsAffected())
		return nil
	}
}
