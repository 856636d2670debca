// Package graph is orchard's GraphQL API: resolvers, the permission directive,
// dataloaders, error presentation and the HTTP handler.
package graph

import (
	"context"
	"log/slog"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// Resolver holds what the resolvers need; one per process.
type Resolver struct {
	Store  *store.Store
	Jobs   *jobs.Client
	Events *events.Broker
	Logger *slog.Logger
	// PublicURL is where devices and people reach orchard (enrollment links).
	PublicURL string
	// PushTopic is the push certificate's topic, "" (or nil) while there is none.
	PushTopic func(ctx context.Context) (string, error)
	// Service carries out every change; resolvers parse, call it and map.
	Service *service.Service
	// Tokens signs the API tokens createAPIToken issues.
	Tokens *auth.Tokens
}
