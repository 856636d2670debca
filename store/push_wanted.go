package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TopicPushWanted is the event that wakes push dispatchers: whoever records
// wanted pushes publishes it once the transaction committed.
const TopicPushWanted = "push_wanted"

// wantPushesSQL records the pushable devices cond selects, once each.
func wantPushesSQL(cond string) string {
	return `INSERT INTO apns_push_wanted (device_id)
	SELECT id FROM enrolled_devices WHERE ` + cond + ` AND ` + pushable + `
	ORDER BY id
	ON CONFLICT (device_id) DO NOTHING`
}

// One device (a command queued through the API, most pushes) has a
// statement of its own: PostgreSQL plans id = ANY($1) again at every call,
// the array's length unknown to a cached plan, and that planning cost more
// than the insert.
var (
	wantPushSQL   = wantPushesSQL("id = $1")
	wantPushesAny = wantPushesSQL("id = ANY($1)")
)

// WantPushes asks, inside the caller's transaction, for pushes to the
// devices among ids that can be pushed; a push dispatcher queues them once
// the transaction commits and TopicPushWanted wakes it (see
// ClaimWantedPushes). It returns how many were recorded: devices already
// waiting for a push are not recorded twice.
func (q *Queries) WantPushes(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	sql, arg := wantPushesAny, any(ids)
	if len(ids) == 1 {
		sql, arg = wantPushSQL, ids[0]
	}
	tag, err := q.db.Exec(ctx, sql, arg)
	if err != nil {
		return 0, fmt.Errorf("want pushes: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ClaimWantedPushes removes up to limit wanted pushes and returns their
// devices, oldest first. Called in the transaction that queues their push
// jobs, so a push is either still wanted or queued, never lost; concurrent
// dispatchers skip each other's rows.
func (q *Queries) ClaimWantedPushes(ctx context.Context, limit int) ([]int64, error) {
	rows, err := q.db.Query(ctx, `DELETE FROM apns_push_wanted WHERE device_id IN (
			SELECT device_id FROM apns_push_wanted ORDER BY wanted_at, device_id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING device_id`, limit)
	if err != nil {
		return nil, fmt.Errorf("claim wanted pushes: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("claim wanted pushes: %w", err)
	}
	return ids, nil
}

// WantedPushes is the backlog of pushes waiting for a dispatcher.
type WantedPushes struct {
	Devices   int64
	OldestAge time.Duration
}

// WantedPushBacklog counts the wanted pushes and the age of the oldest.
func (q *Queries) WantedPushBacklog(ctx context.Context) (WantedPushes, error) {
	var b WantedPushes
	var seconds float64
	err := q.db.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(wanted_at)), 0)::float8
		FROM apns_push_wanted`).Scan(&b.Devices, &seconds)
	if err != nil {
		return b, fmt.Errorf("wanted push backlog: %w", err)
	}
	b.OldestAge = time.Duration(seconds * float64(time.Second))
	return b, nil
}
