package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// countingTracer counts the statements sent to PostgreSQL.
type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestIdleIsOneRoundTrip keeps the hot path honest: an Idle, with or without
// a command to send, is one statement.
func TestIdleIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	tracer := &countingTracer{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := store.New(pool, pgtest.Sealer(t))

	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: "HOT-1"}, CertHash: []byte("hash"), CertNotAfter: time.Now().Add(time.Hour)}
	id, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TokenUpdate(ctx, ch, store.TokenUpdate{Token: []byte("t"), PushMagic: "m"}); err != nil {
		t.Fatal(err)
	}
	uuid, body, _ := mdmproto.NewCommand("ProfileList", nil)
	err = s.Tx(ctx, func(q *store.Queries) error {
		_, err := q.EnqueueCommand(ctx, id, uuid, "ProfileList", body, "test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	idle := func(want string) {
		t.Helper()
		before := tracer.n.Load()
		next, err := s.Idle(ctx, ch)
		if err != nil || next.UUID != want {
			t.Fatalf("Idle: %q %v, want command %q", next.UUID, err, want)
		}
		if n := tracer.n.Load() - before; n != 1 {
			t.Fatalf("Idle took %d statements, want 1", n)
		}
	}
	idle(uuid)
	idle(uuid) // sent but unanswered: offered again
	if _, found, err := s.ReportResult(ctx, ch, store.Result{Status: "Acknowledged", CommandUUID: uuid}); err != nil || !found {
		t.Fatalf("result: found %v, %v", found, err)
	}
	idle("")
}
