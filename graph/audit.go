package graph

import (
	"context"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
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
	conn := &model.AuditEventConnection{}
	conn.Edges, conn.PageInfo = edges(auditCursor, events, more, func(n *store.AuditEvent) int64 { return n.ID },
		func(cursor string, n *store.AuditEvent) *model.AuditEventEdge {
			return &model.AuditEventEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}
