package pgtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Statement is one SQL statement sent to PostgreSQL, with its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// StatementLog records the statements sent on behalf of one context (a
// request, and whatever it runs), so a test can count them while other
// work, River's for one, shares the pool.
type StatementLog struct {
	mu   sync.Mutex
	list []Statement
}

type statementLogKey struct{}

// WithStatementLog returns ctx carrying a fresh log: every statement sent
// with ctx, or a context made from it, on a pool traced by Tracer lands in it.
func WithStatementLog(ctx context.Context) (context.Context, *StatementLog) {
	l := &StatementLog{}
	return l.Context(ctx), l
}

// Context returns ctx carrying l, for work that should log into it.
func (l *StatementLog) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, statementLogKey{}, l)
}

// Statements lists what was sent, in order.
func (l *StatementLog) Statements() []Statement {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// Len is how many statements were sent.
func (l *StatementLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list)
}

// Reset forgets what was sent.
func (l *StatementLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = nil
}

func (l *StatementLog) add(sql string, args []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, Statement{SQL: sql, Args: args})
}

func logOf(ctx context.Context) *StatementLog {
	l, _ := ctx.Value(statementLogKey{}).(*StatementLog)
	return l
}

// Tracer is a pgx tracer that writes each statement, batched ones and COPY
// included, to the StatementLog of its context (if any).
type Tracer struct{}

var (
	_ pgx.QueryTracer    = Tracer{}
	_ pgx.BatchTracer    = Tracer{}
	_ pgx.CopyFromTracer = Tracer{}
)

func (Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if l := logOf(ctx); l != nil {
		l.add(data.SQL, data.Args)
	}
	return ctx
}

func (Tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (Tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (Tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if l := logOf(ctx); l != nil {
		l.add(data.SQL, data.Args)
	}
}

func (Tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (Tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	if l := logOf(ctx); l != nil {
		l.add("COPY "+data.TableName.Sanitize(), nil)
	}
	return ctx
}

func (Tracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// Explain returns PostgreSQL's text plan of a statement a store sent, one
// line per node, as db (a transaction, to scope planner settings) would run
// it. For a call of orchard_bounded_count it is the plan of the bounded
// count the function runs, the only part that reads rows, with the
// function's own setting (no sequential scans).
func Explain(ctx context.Context, db pgx.Tx, st Statement) (string, error) {
	sql, args := st.SQL, st.Args
	if strings.HasPrefix(sql, "SELECT orchard_bounded_count(") && len(args) == 3 {
		// A savepoint, so the setting ends with this plan.
		sp, err := db.Begin(ctx)
		if err != nil {
			return "", err
		}
		defer sp.Rollback(ctx)
		if _, err := sp.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return "", err
		}
		db = sp
		// The function passes its arguments as one text[], whose type a
		// statement of its own must spell out.
		query, _ := args[0].(string)
		sql = "SELECT count(*) FROM (" + strings.ReplaceAll(query, "$1[", "($1::text[])[") + fmt.Sprintf(" LIMIT %v) bounded", args[2])
		args = []any{args[1]}
		if !strings.Contains(query, "$1[") {
			args = nil
		}
	}
	rows, err := db.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		return "", fmt.Errorf("explain %s: %w", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("explain %s: %w", sql, err)
	}
	return strings.Join(lines, "\n"), nil
}
