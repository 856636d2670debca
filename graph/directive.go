package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orchardmdm/orchard/graph/auth"
)

// HasPermission implements @hasPermission: no principal is UNAUTHENTICATED,
// a principal without the permission is FORBIDDEN.
func HasPermission(ctx context.Context, _ any, next graphql.Resolver, permission string) (any, error) {
	p := auth.FromContext(ctx)
	if p == nil {
		return nil, Unauthenticated()
	}
	if !p.Has(permission) {
		return nil, Forbidden("permission %s required", permission)
	}
	return next(ctx)
}
