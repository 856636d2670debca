package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orchardmdm/orchard/store/seal"
)

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// Store is orchard's one PostgreSQL store. Its queries are the methods of
// Queries, which run on the pool; Tx runs the same methods in a transaction.
type Store struct {
	*Queries
	pool *pgxpool.Pool
}

// Queries are the store's reads and writes, on the pool or in a
// transaction: one set of methods whoever the caller is.
type Queries struct {
	db     DB
	sealer *seal.Sealer
	// committed holds what runs once the transaction commits (nil on the
	// pool, where a statement commits as it returns).
	committed *afterCommit
}

// afterCommit is a transaction's list of functions to run once it committed.
type afterCommit struct {
	mu  sync.Mutex
	fns []func()
}

func (a *afterCommit) add(fn func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fns = append(a.fns, fn)
}

func (a *afterCommit) run() {
	a.mu.Lock()
	fns := a.fns
	a.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// AfterCommit runs fn once the transaction q belongs to has committed, and
// never if it rolls back; on the pool, at once. For what must not hold the
// transaction open or be seen before its change is: notifications, which
// inside a transaction hold PostgreSQL's notification lock through the
// commit's flush (see events.Publisher).
func (q *Queries) AfterCommit(fn func()) {
	if q.committed == nil {
		fn()
		return
	}
	q.committed.add(fn)
}

// Options tune the connection pool.
type Options struct {
	MaxConns int32
	// ConnectTimeout bounds each connection's dial, TLS and start-up
	// exchange; zero gives DefaultConnectTimeout. A connect_timeout in the
	// database URL wins.
	ConnectTimeout time.Duration
	// Tracer, when set, sees every statement the pool's connections send
	// (tests count a request's statements with it).
	Tracer pgx.QueryTracer
}

// DefaultConnectTimeout keeps a database that accepts TCP but never answers
// (a wedged proxy, a firewall, a stopped VM) from hanging start-up silently.
const DefaultConnectTimeout = 10 * time.Second

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, dsn string, sealer *seal.Sealer, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = cmp.Or(opts.ConnectTimeout, DefaultConnectTimeout)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return New(pool, sealer), nil
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool, sealer *seal.Sealer) *Store {
	return &Store{Queries: &Queries{db: pool, sealer: sealer}, pool: pool}
}

// Pool is the connection pool, for River and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Sealer seals and opens the secrets this store keeps.
func (s *Store) Sealer() *seal.Sealer { return s.sealer }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Tx runs fn with queries in one transaction, committed when fn returns nil.
func (s *Store) Tx(ctx context.Context, fn func(q *Queries) error) error {
	committed := &afterCommit{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Queries{db: tx, sealer: s.sealer, committed: committed})
	})
	if err == nil {
		committed.run()
	}
	return err
}

// PgxTx is the transaction the queries run in (nil on the pool), for what
// must join it: River inserts, notifications.
func (q *Queries) PgxTx() pgx.Tx {
	tx, _ := q.db.(pgx.Tx)
	return tx
}

// inTx runs fn in a transaction of its own, or in a savepoint of the caller's.
func (q *Queries) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, q.db, fn)
}

// DB is what queries run on: the pool or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// with is q in tx, for a query made inside one of q's own transactions.
func (q *Queries) with(tx pgx.Tx) *Queries {
	return &Queries{db: tx, sealer: q.sealer, committed: q.committed}
}
