// Package graph is orchard's GraphQL API: resolvers, the permission directive,
// dataloaders, error presentation and the HTTP handler.
package graph

import (
	"log/slog"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/store"
)

// Resolver holds what the resolvers need; one per process.
type Resolver struct {
	Store  *store.Store
	Jobs   *jobs.Client
	Events *jobs.Broker
	Logger *slog.Logger
}
