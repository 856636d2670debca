package graph_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/orchardmdm/orchard/store/pgtest"
)

// The seeded fleet: half Macs, then iPhones, iPads, Apple TVs and Vision Pros
// (50/30/15/4/1%), each named "<first name>'s <kind>".
var (
	fleetPlatforms = []string{"macOS", "iOS", "iPadOS", "tvOS", "visionOS"}
	fleetModels    = []string{"MacBookPro18,3", "iPhone15,2", "iPad13,4", "AppleTV11,1", "RealityDevice14,1"}
	fleetKinds     = []string{"MacBook Pro", "iPhone", "iPad", "Apple TV", "Vision Pro"}
	fleetNames     = []string{"Alice", "Bruno", "Chloe", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jamal",
		"Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Yuki"}
)

// fleetDevicesSQL inserts $1 devices: UUID-shaped UDIDs and 10-character
// serial numbers from md5 (as random as real ones, and the same on every
// run), 9 in 10 on one of 20 blueprints, 1 in 2,000 blocked.
const fleetDevicesSQL = `INSERT INTO enrolled_devices (udid, serial_number, name, model, platform, os_version,
	build_version, blueprint_id, blocked_at, last_seen_at, token_updated)
SELECT upper(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12)),
	upper(substr(md5('serial' || i), 1, 10)), ($2::text[])[1 + i % 20] || '''s ' || ($5::text[])[p],
	($4::text[])[p], ($3::text[])[p], '17.4.1', '21E236', CASE WHEN i % 10 <> 0 THEN 1 + i % 20 END,
	CASE WHEN i % 2000 = 0 THEN now() END, now() - (i % 10000) * interval '1 minute', true
FROM generate_series(1, $1) i, LATERAL (SELECT md5(i::text) AS h, CASE WHEN i % 100 < 50 THEN 1
	WHEN i % 100 < 80 THEN 2 WHEN i % 100 < 95 THEN 3 WHEN i % 100 < 99 THEN 4 ELSE 5 END AS p) x`

// fleetUsersSQL gives 1 device in 3 a user channel, 1 in 15 a second one.
const fleetUsersSQL = `INSERT INTO mdm_device_users (device_id, user_id, short_name, long_name, last_seen_at)
SELECT d, upper(md5('user' || d || '-' || n)), 'user' || n, 'User ' || n, now()
FROM generate_series(1, $1) d, generate_series(1, 2) n WHERE d % 3 = 0 AND (n = 1 OR d % 15 = 0)`

// seedFleet returns the connection string of a fresh database holding n
// devices, dropped when b ends. Rows go in with INSERT ... SELECT from
// generate_series while the tables have only their primary keys (and no
// foreign-key checks: the rows reference what the same transaction wrote);
// the other indexes are then built two at a time, then VACUUM ANALYZE gives
// the planner its statistics and index-only scans their visibility map.
func seedFleet(b *testing.B, n int) string {
	dsn := pgtest.NewDatabase(b)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	start := time.Now()
	steps, err := dropFleetIndexes(ctx, pool)
	if err == nil {
		err = insertFleet(ctx, pool, n)
	}
	if err == nil {
		err = buildIndexes(ctx, pool, steps)
	}
	if err == nil {
		_, err = pool.Exec(ctx, "VACUUM ANALYZE enrolled_devices, mdm_device_users")
	}
	if err != nil {
		b.Fatalf("seed %d devices: %v", n, err)
	}
	b.Logf("seeded %d devices in %s", n, time.Since(start).Round(100*time.Millisecond))
	return dsn
}

func insertFleet(ctx context.Context, pool *pgxpool.Pool, n int) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, st := range []struct {
			sql  string
			args []any
		}{
			{"SET LOCAL session_replication_role = replica", nil},
			{"INSERT INTO blueprints (name) SELECT 'Blueprint ' || i FROM generate_series(1, 20) i", nil},
			{fleetDevicesSQL, []any{n, fleetNames, fleetPlatforms, fleetModels, fleetKinds}},
			{fleetUsersSQL, []any{n}},
		} {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("%.60s: %w", st.sql, err)
			}
		}
		return nil
	})
}

// indexStep rebuilds one dropped index; attach makes it its unique
// constraint again, once built.
type indexStep struct{ create, attach string }

// dropFleetIndexes drops the secondary indexes and unique constraints of
// the seeded tables, and returns how to build them again.
func dropFleetIndexes(ctx context.Context, pool *pgxpool.Pool) ([]indexStep, error) {
	rows, err := pool.Query(ctx, `SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
			pg_get_indexdef(i.indexrelid), c.conname
		FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype = 'u'
		WHERE i.indrelid IN ('enrolled_devices'::regclass, 'mdm_device_users'::regclass) AND NOT i.indisprimary`)
	if err != nil {
		return nil, err
	}
	var steps []indexStep
	var drops []string
	for rows.Next() {
		var table, index, def string
		var constraint *string
		if err := rows.Scan(&table, &index, &def, &constraint); err != nil {
			return nil, err
		}
		step, drop := indexStep{create: def}, "DROP INDEX "+index
		if constraint != nil {
			drop = "ALTER TABLE " + table + " DROP CONSTRAINT " + *constraint
			step.attach = "ALTER TABLE " + table + " ADD CONSTRAINT " + *constraint + " UNIQUE USING INDEX " + index
		}
		steps, drops = append(steps, step), append(drops, drop)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, drop := range drops {
		if _, err := pool.Exec(ctx, drop); err != nil {
			return nil, fmt.Errorf("%s: %w", drop, err)
		}
	}
	return steps, nil
}

// buildIndexes runs the steps on two connections, slowest first; CREATE
// INDEX takes a lock that lets others build beside it.
func buildIndexes(ctx context.Context, pool *pgxpool.Pool, steps []indexStep) error {
	slices.SortStableFunc(steps, func(a, b indexStep) int { return buildCost(b) - buildCost(a) })
	queue := make(chan indexStep, len(steps))
	for _, s := range steps {
		queue <- s
	}
	close(queue)
	g, gctx := errgroup.WithContext(ctx)
	for range 2 {
		g.Go(func() error { return buildFrom(gctx, pool, queue) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, s := range steps {
		if s.attach == "" {
			continue
		}
		if _, err := pool.Exec(ctx, s.attach); err != nil {
			return fmt.Errorf("%s: %w", s.attach, err)
		}
	}
	return nil
}

// buildCost ranks how long an index takes to build: a trigram index over
// random UDIDs (30-odd trigrams a row) far the longest, then the other
// trigram indexes, then B-trees.
func buildCost(s indexStep) int {
	switch {
	case strings.Contains(s.create, "(udid gin_trgm_ops)"):
		return 3
	case strings.Contains(s.create, "gin_trgm_ops"):
		return 2
	default:
		return 1
	}
}

func buildFrom(ctx context.Context, pool *pgxpool.Pool, queue <-chan indexStep) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '256MB'"); err != nil {
		return err
	}
	for s := range queue {
		if _, err := conn.Exec(ctx, s.create); err != nil {
			return fmt.Errorf("%s: %w", s.create, err)
		}
	}
	return nil
}
