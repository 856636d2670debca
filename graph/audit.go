package graph

import (
	"context"

	"github.com/orchardmdm/orchard/graph/model"
)

const auditCursor = "audit"

func (r *Resolver) listAuditEvents(ctx context.Context, first *int, after *string) (*model.AuditEventConnection, error) {
	p, err := page(auditCursor, first, after)
	if err != nil {
		return nil, err
	}
	events, more, err := r.Store.ListAuditEvents(ctx, p)
	if err != nil {
		return nil, err
	}
	conn := &model.AuditEventConnection{Edges: make([]*model.AuditEventEdge, len(events))}
	var last int64
	for i := range events {
		last = events[i].ID
		conn.Edges[i] = &model.AuditEventEdge{Cursor: encodeCursor(auditCursor, last), Node: &events[i]}
	}
	conn.PageInfo = pageInfo(auditCursor, more, last, len(events) == 0)
	return conn, nil
}
