package pgtest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orchardmdm/orchard/store"
)

// StatementCounter counts the statements a store sends to PostgreSQL, each a
// round trip (BEGIN and COMMIT included), for tests that keep hot paths short.
type StatementCounter struct{ n atomic.Int64 }

// Count is the number of statements sent so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

// TraceQueryStart counts a statement (pgx.QueryTracer).
func (c *StatementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// TraceQueryEnd is part of pgx.QueryTracer.
func (c *StatementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// NewCounted is New with every statement the store sends counted.
func NewCounted(t testing.TB) (*store.Store, *StatementCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &StatementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, Sealer(t)), counter
}
