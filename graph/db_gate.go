package graph

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"golang.org/x/sync/semaphore"

	"github.com/orchardmdm/orchard/graph/auth"
)

// dbGate bounds the resolvers running at once, per API token and in all.
// gqlgen resolves a query's root fields concurrently, so one request of a few
// hundred aliases, or a few such requests, would otherwise hold every
// connection of the pool while /healthz and every other caller wait.
// Resolvers also stop here once their request has ended (the client went
// away): a waiting resolver never starts.
type dbGate struct {
	perCaller int64
	all       *semaphore.Weighted

	mu      sync.Mutex
	callers map[string]*callerSlots
}

// callerSlots is one token's semaphore, kept while some resolver uses it.
type callerSlots struct {
	sem   *semaphore.Weighted
	users int
}

func newDBGate(perCaller, all int) *dbGate {
	return &dbGate{perCaller: int64(max(perCaller, 1)), all: semaphore.NewWeighted(int64(max(all, 1))),
		callers: map[string]*callerSlots{}}
}

var _ interface {
	graphql.HandlerExtension
	graphql.FieldInterceptor
} = &dbGate{}

func (*dbGate) ExtensionName() string                   { return "DatabaseGate" }
func (*dbGate) Validate(graphql.ExecutableSchema) error { return nil }

func (g *dbGate) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fc := graphql.GetFieldContext(ctx)
	p := auth.FromContext(ctx)
	// Fields read from a parent's struct cost nothing; callers without a
	// token are refused by @hasPermission before any query.
	if fc == nil || !fc.IsResolver || p == nil {
		return next(ctx)
	}
	slots := g.enter(p.TokenID)
	defer g.leave(p.TokenID)
	if err := slots.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	defer slots.Release(1)
	if err := g.all.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	defer g.all.Release(1)
	return next(ctx)
}

func (g *dbGate) enter(caller string) *semaphore.Weighted {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.callers[caller]
	if c == nil {
		c = &callerSlots{sem: semaphore.NewWeighted(g.perCaller)}
		g.callers[caller] = c
	}
	c.users++
	return c.sem
}

func (g *dbGate) leave(caller string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.callers[caller]; c != nil {
		if c.users--; c.users == 0 {
			delete(g.callers, caller)
		}
	}
}
