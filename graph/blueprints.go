package graph

import (
	"context"
	"errors"
	"strings"

	"github.com/orchardmdm/orchard/graph/auth"
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

func (r *Resolver) createBlueprint(ctx context.Context, in model.CreateBlueprintInput) (*store.Blueprint, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 200 {
		return nil, BadInput("a blueprint name must be 1 to 200 characters")
	}
	b, err := r.Store.CreateBlueprint(ctx, name, auth.FromContext(ctx).Actor())
	if errors.Is(err, store.ErrConflict) {
		return nil, BadInput("a blueprint named %q already exists", name)
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}
