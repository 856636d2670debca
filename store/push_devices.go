package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pushable selects devices with a push channel APNs still accepts and a
// certificate to push them with. Claims and deferrals share it: a device one
// skips, the other must skip too, or it would be deferred again and again.
const pushable = `push_token IS NOT NULL AND push_token_invalid_at IS NULL AND push_magic <> ''
	AND push_topic IN (SELECT topic FROM push_certificates)`

// PushTarget is a device to wake and the push channel it registered.
type PushTarget struct {
	DeviceID  int64
	Token     []byte
	PushMagic string
	Topic     string
}

// ClaimPushTargets picks the devices among ids to push now and marks them
// notified, in one statement: a device pushed less than window ago is not
// claimed, and concurrent claims never both get a device. force claims
// regardless of the window (a retry of a push that never reached APNs).
func (q *Queries) ClaimPushTargets(ctx context.Context, ids []int64, window time.Duration, force bool) ([]PushTarget, error) {
	return claimPushTargets(ctx, q.db, ids, window, force)
}

// ClaimDeferredPushTargets is ClaimPushTargets for a follow-up push: it takes
// the devices among ids still deferred (the others were pushed since) and
// claims them in one transaction, so a failed claim leaves the deferrals for
// the job's retry. It returns the devices taken and those claimed.
func (q *Queries) ClaimDeferredPushTargets(ctx context.Context, ids []int64, window time.Duration) (taken []int64, targets []PushTarget, err error) {
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "DELETE FROM apns_push_deferred WHERE device_id = ANY($1) RETURNING device_id", ids)
		if err != nil {
			return fmt.Errorf("take deferred pushes: %w", err)
		}
		if taken, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return fmt.Errorf("take deferred pushes: %w", err)
		}
		targets, err = claimPushTargets(ctx, tx, taken, window, false)
		return err
	})
	return taken, targets, err
}

func claimPushTargets(ctx context.Context, db DB, ids []int64, window time.Duration, force bool) ([]PushTarget, error) {
	// A push now also answers any deferred one: its deferral goes, so the
	// follow-up finds nothing left to do.
	rows, err := db.Query(ctx, `WITH claimed AS (
			UPDATE enrolled_devices SET last_notified_at = now()
			WHERE id = ANY($1) AND `+pushable+`
			AND ($3 OR last_notified_at IS NULL OR last_notified_at <= now() - $2::interval)
			RETURNING id, push_token, push_magic, push_topic
		), answered AS (
			DELETE FROM apns_push_deferred WHERE device_id IN (SELECT id FROM claimed)
		)
		SELECT id, push_token, push_magic, push_topic FROM claimed`, ids, window, force)
	if err != nil {
		return nil, fmt.Errorf("claim push targets: %w", err)
	}
	targets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PushTarget, error) {
		var t PushTarget
		err := r.Scan(&t.DeviceID, &t.Token, &t.PushMagic, &t.Topic)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim push targets: %w", err)
	}
	return targets, nil
}

// MarkNotified stamps last_notified_at again once pushes are answered: the
// claim reserved the devices, this starts their window when APNs had the
// pushes, so the next push comes a full window after the last one arrived.
func (q *Queries) MarkNotified(ctx context.Context, ids []int64) error {
	if _, err := q.db.Exec(ctx, "UPDATE enrolled_devices SET last_notified_at = now() WHERE id = ANY($1)", ids); err != nil {
		return fmt.Errorf("mark devices notified: %w", err)
	}
	return nil
}

// staleDeferral is how late a deferred push may be before a new request
// re-arms it: its follow-up job was lost or the queue is far behind.
const staleDeferral = 10 * time.Minute

// DeferPushes records pushable devices among ids that were not claimed (they
// were pushed within window) so one follow-up pushes them when it ends. It
// returns the devices newly deferred, with when they are due; devices already
// waiting for a follow-up are not returned. Run it in the transaction that
// queues the follow-up, so no deferral outlives a lost follow-up.
func (q *Queries) DeferPushes(ctx context.Context, ids, claimed []int64, window time.Duration) (map[int64]time.Time, error) {
	db := q.db
	if claimed == nil {
		claimed = []int64{} // a NULL array would match nothing
	}
	rows, err := db.Query(ctx, `INSERT INTO apns_push_deferred (device_id, due_at)
		SELECT id, COALESCE(last_notified_at, now()) + $3::interval FROM enrolled_devices
		WHERE id = ANY($1) AND NOT id = ANY($2) AND `+pushable+`
		ON CONFLICT (device_id) DO UPDATE SET due_at = EXCLUDED.due_at
			WHERE apns_push_deferred.due_at < now() - $4::interval
		RETURNING device_id, due_at`, ids, claimed, window, staleDeferral)
	if err != nil {
		return nil, fmt.Errorf("defer pushes: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var due time.Time
		if err := rows.Scan(&id, &due); err != nil {
			return nil, fmt.Errorf("defer pushes: %w", err)
		}
		out[id] = due
	}
	return out, rows.Err()
}

// InvalidatePushTokens stops pushes to tokens APNs reported gone. A device
// that sent a new token meanwhile keeps it: only the token pushed is marked.
func (q *Queries) InvalidatePushTokens(ctx context.Context, targets []PushTarget) (int64, error) {
	ids := make([]int64, len(targets))
	tokens := make([][]byte, len(targets))
	for i, t := range targets {
		ids[i], tokens[i] = t.DeviceID, t.Token
	}
	tag, err := q.db.Exec(ctx, `UPDATE enrolled_devices d SET push_token_invalid_at = now()
		FROM unnest($1::bigint[], $2::bytea[]) AS t(id, token)
		WHERE d.id = t.id AND d.push_token = t.token AND d.push_token_invalid_at IS NULL`, ids, tokens)
	if err != nil {
		return 0, fmt.Errorf("invalidate push tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PushableDeviceIDs lists the devices a filter matches that can be pushed.
func (q *Queries) PushableDeviceIDs(ctx context.Context, f DeviceFilter) ([]int64, error) {
	where, args := f.where()
	rows, err := q.db.Query(ctx, "SELECT id FROM enrolled_devices WHERE "+where+" AND "+pushable+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("pushable devices: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("pushable devices: %w", err)
	}
	return ids, nil
}

// DevicePushable reports whether a device has a push channel APNs still
// accepts; ErrNotFound when there is no such device.
func (q *Queries) DevicePushable(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := q.db.QueryRow(ctx, "SELECT "+pushable+" FROM enrolled_devices WHERE id = $1", id).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("device %d pushable: %w", id, err)
	}
	return ok, nil
}

// CountInvalidPushTokens counts devices APNs reported gone and that sent no new token since.
func (q *Queries) CountInvalidPushTokens(ctx context.Context) (int64, error) {
	var n int64
	err := q.db.QueryRow(ctx, "SELECT count(*) FROM enrolled_devices WHERE push_token_invalid_at IS NOT NULL").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count invalid push tokens: %w", err)
	}
	return n, nil
}
