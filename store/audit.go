package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEvent records who did what to which object.
type AuditEvent struct {
	ID         int64
	OccurredAt time.Time
	Actor      string
	Action     string
	ObjectType string
	ObjectID   string
	Data       map[string]any
}

// InsertAuditEvent records an audit event; the service layer decides when.
func (q *Queries) InsertAuditEvent(ctx context.Context, ev AuditEvent) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	if ev.Data == nil {
		data = []byte("{}")
	}
	_, err = q.db.Exec(ctx, `INSERT INTO audit_events (actor, action, object_type, object_id, data)
		VALUES ($1, $2, $3, $4, $5)`, ev.Actor, ev.Action, ev.ObjectType, ev.ObjectID, data)
	if err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

// ListAuditEvents returns one page of audit events, newest first.
func (q *Queries) ListAuditEvents(ctx context.Context, p Page) ([]AuditEvent, bool, error) {
	after := p.After
	if after == 0 {
		after = 1<<63 - 1
	}
	rows, err := q.db.Query(ctx, `SELECT id, occurred_at, actor, action, object_type, object_id, data
		FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2`, after, p.First+1)
	if err != nil {
		return nil, false, fmt.Errorf("list audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEvent, error) {
		var ev AuditEvent
		err := r.Scan(&ev.ID, &ev.OccurredAt, &ev.Actor, &ev.Action, &ev.ObjectType, &ev.ObjectID, &ev.Data)
		return ev, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("list audit events: %w", err)
	}
	return trimPage(events, p)
}

// CountAuditEvents counts all audit events: exactly up to ExactCountBound,
// past it the planner's estimate. The trail only grows (every change and
// every reveal adds to it), so counting it row by row would make each page
// slower than the last.
func (q *Queries) CountAuditEvents(ctx context.Context) (int, error) {
	n, err := q.boundedCount(ctx, "audit_events", func(*whereBuilder) {}, true)
	if err != nil {
		return 0, fmt.Errorf("count audit events: %w", err)
	}
	return n, nil
}
