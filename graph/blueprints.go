package graph

import (
	"context"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
)

const blueprintCursor = "blueprint"

func (r *Resolver) listBlueprints(ctx context.Context, first *int, after *string) (*model.BlueprintConnection, error) {
	p, err := page(blueprintCursor, first, after)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListBlueprints(ctx, p)
	if err != nil {
		return nil, err
	}
	conn := &model.BlueprintConnection{}
	conn.Edges, conn.PageInfo = edges(blueprintCursor, list, more, func(n *store.Blueprint) int64 { return n.ID },
		func(cursor string, n *store.Blueprint) *model.BlueprintEdge {
			return &model.BlueprintEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}
