// Package pgtest gives each test its own freshly migrated PostgreSQL database.
//
// Tests run against the real server that `make test` starts; the connection
// string comes from ORCHARD_TEST_DATABASE_URL. Each test database is a copy of
// a migrated template (CREATE DATABASE ... TEMPLATE), so tests run in parallel
// and start clean in a few milliseconds.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/seal"
)

// EnvURL names the variable holding the admin connection string of the test server.
const EnvURL = "ORCHARD_TEST_DATABASE_URL"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// New returns a Store on a fresh database, closed and dropped when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	dsn := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn, Sealer(t), store.Options{MaxConns: 20, Tracer: Tracer{}})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewDatabase creates a fresh migrated database and returns its connection
// string. The database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(admin) })
	if templateErr != nil {
		t.Fatalf("pgtest: prepare template database: %v", templateErr)
	}
	name := "orchard_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := adminExec(ctx, admin, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, admin, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, admin, name)
}

// NewEmptyDatabase creates a database without migrations (for tests of the
// migrator itself) and returns its connection string; dropped when the test ends.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	name := "orchard_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := adminExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, admin, name)
}

// Sealer returns a sealer with a random key, for tests.
func Sealer(t testing.TB) *seal.Sealer {
	t.Helper()
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(map[string][]byte{"test": key}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func adminURL(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvURL)
	if dsn == "" {
		t.Fatalf("pgtest: %s is not set. Tests need the PostgreSQL server that `make test` starts: run `make test`, or `eval \"$(make -s test-db)\"` before go test.", EnvURL)
	}
	return dsn
}

func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	out, err := switchDatabase(dsn, name)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	return out
}

// switchDatabase points a connection string, URL or key/value form, at another database.
func switchDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// In the key/value form the last value of a key wins.
	return dsn + " dbname=" + name, nil
}

// ensureTemplate builds the migrated template once per set of migrations. An
// advisory lock makes test binaries running in parallel wait for one builder.
func ensureTemplate(admin string) (string, error) {
	fingerprint, err := store.MigrationFingerprint()
	if err != nil {
		return "", err
	}
	name := "orchard_template_" + fingerprint
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to the test server (%s): %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(4242)")

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	dsn, err := switchDatabase(admin, building)
	if err != nil {
		return "", err
	}
	if err := migrateDatabase(ctx, dsn); err != nil {
		return "", err
	}
	// Renamed only once complete, so a crash never leaves a half-built template in use.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

func migrateDatabase(ctx context.Context, dsn string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	return store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to the test server (%s): %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// StartBroker starts an event broker on s's pool and waits until it listens,
// so events published after it returns reach its subscribers. It stops when
// the test ends.
func StartBroker(t *testing.T, s *store.Store) *events.Broker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := events.NewBroker(s.Pool(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	go b.Run(ctx)
	select {
	case <-b.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("broker never listened")
	}
	return b
}

// Receive returns the next event on ch, failing the test if none arrives.
func Receive(t *testing.T, ch <-chan events.Event) events.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event arrived")
	}
	return events.Event{}
}
