package embeddedpg

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// reachableTempDir returns a fresh directory the PostgreSQL user can enter.
// As root, t.TempDir()'s parent is 0700 and root-owned, which the
// unprivileged server user cannot pass; open both for search, not listing.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), connString)
	if err != nil {
		t.Fatalf("connect %s: %v", connString, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartStopRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	c := startCluster(t, Options{DataDir: dir, Fast: true})
	if !c.Started() {
		t.Fatal("first Start did not report starting the server")
	}

	conn := connect(t, c.ConnString())
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('apple')"); err != nil {
		t.Fatal(err)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != DefaultDatabase {
		t.Fatalf("current_database = %q, %v; want %q", db, err, DefaultDatabase)
	}
	conn.Close(ctx)

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.socketPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still present after Stop: %v", err)
	}

	c2 := startCluster(t, Options{DataDir: dir, Fast: true})
	var v string
	if err := connect(t, c2.ConnString()).QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "apple" {
		t.Fatalf("after restart got %q, %v; want apple", v, err)
	}
}

func TestServerIsPrivate(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, Options{DataDir: reachableTempDir(t), Fast: true})
	conn := connect(t, c.ConnString())

	for setting, want := range map[string]string{
		"listen_addresses":        "",
		"unix_socket_permissions": "0700",
		"unix_socket_directories": `"` + c.socketDir + `"`,
		"server_encoding":         "UTF8",
		"fsync":                   "off",
		"max_connections":         "200",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}

	fi, err := os.Stat(c.socketDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode %v, want 0700", fi.Mode().Perm())
	}
	wantUID := uint32(os.Geteuid())
	if os.Geteuid() == 0 {
		wantUID = c.user.UID
		if wantUID == 0 {
			t.Fatal("server user is root")
		}
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != wantUID {
		t.Errorf("socket directory owned by uid %d, want %d", uid, wantUID)
	}

	hba, err := os.ReadFile(filepath.Join(c.pgdata, "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(hba), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[0] != "local" {
			t.Errorf("pg_hba.conf allows non-socket connections: %q", line)
		}
	}
}

func TestStartReusesRunningCluster(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	owner := startCluster(t, Options{DataDir: dir, Fast: true})

	guest := startCluster(t, Options{DataDir: dir, Database: "tokens"})
	if guest.Started() {
		t.Fatal("second Start claims to have started an already running server")
	}
	var db string
	if err := connect(t, guest.ConnString()).QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "tokens" {
		t.Fatalf("guest database = %q, %v; want tokens created on the running server", db, err)
	}

	if err := guest.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := connect(t, owner.ConnString()).Ping(ctx); err != nil {
		t.Fatalf("guest Stop shut down the owner's server: %v", err)
	}

	// Shutdown stops the server whoever started it; the owner's later Stop
	// (in cleanup) then finds nothing to do.
	if err := Shutdown(ctx, Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(owner.socketPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still present after Shutdown: %v", err)
	}
	if err := Shutdown(ctx, Options{DataDir: dir}); err != nil {
		t.Fatalf("Shutdown of a stopped cluster: %v", err)
	}
}

func TestRotateLogKeepsOnePrevious(t *testing.T) {
	log := filepath.Join(t.TempDir(), "postgres.log")
	if err := os.WriteFile(log, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotateLog(log, 100)
	if _, err := os.Stat(log); err != nil {
		t.Fatalf("small log rotated away: %v", err)
	}
	rotateLog(log, 5)
	if b, err := os.ReadFile(log + ".1"); err != nil || string(b) != "0123456789" {
		t.Fatalf("previous log = %q, %v", b, err)
	}
	if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("large log still in place: %v", err)
	}
}

func TestStartFailureShowsServerLog(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	c := startCluster(t, Options{DataDir: dir, Fast: true})
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	conf, err := os.OpenFile(filepath.Join(c.pgdata, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conf.WriteString("orchard_no_such_setting = 1\n"); err != nil {
		t.Fatal(err)
	}
	conf.Close()

	_, err = Start(ctx, Options{DataDir: dir, Fast: true})
	if err == nil {
		t.Fatal("Start succeeded with an invalid postgresql.conf")
	}
	if !strings.Contains(err.Error(), "orchard_no_such_setting") || !strings.Contains(err.Error(), "last lines of") {
		t.Fatalf("error does not carry the server log: %v", err)
	}
}

func TestSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	_, err := Start(context.Background(), Options{DataDir: dir})
	var tooLong *SocketPathTooLongError
	if !errors.As(err, &tooLong) {
		t.Fatalf("got %v, want *SocketPathTooLongError", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data directory created despite the error: %v", err)
	}
}

func TestTraversalCheckNamesBlockingDirectory(t *testing.T) {
	dir := t.TempDir()
	blocked := filepath.Join(dir, "blocked")
	inner := filepath.Join(blocked, "data")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	// A user that owns none of these directories and shares no group with them.
	stranger := serverUser{Name: "stranger", UID: 4000001, GID: 4000001, drop: true}

	err := stranger.checkTraversable(inner)
	var te *TraverseError
	if !errors.As(err, &te) || te.Dir != blocked {
		t.Fatalf("got %v, want a TraverseError naming %s", err, blocked)
	}
	if !strings.Contains(err.Error(), blocked) {
		t.Errorf("message %q does not name %s", err, blocked)
	}

	if err := os.Chmod(blocked, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := stranger.checkTraversable(inner); err != nil {
		t.Fatalf("after chmod o+x: %v", err)
	}
}

// As root, Start refuses a root-only directory before running anything.
func TestStartAsRootRefusesUnreachableDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands PostgreSQL to another user")
	}
	dir := t.TempDir()
	blocked := filepath.Dir(dir) // created 0700 and root-owned by the testing package
	_, err := Start(context.Background(), Options{DataDir: dir})
	var te *TraverseError
	if !errors.As(err, &te) || te.Dir != blocked {
		t.Fatalf("got %v, want a TraverseError naming %s", err, blocked)
	}
}

// Test binaries of several packages start the shared test cluster at once.
func TestConcurrentStartsShareOneServer(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	const n = 3
	clusters := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { clusters[i], errs[i] = Start(ctx, Options{DataDir: dir, Fast: true}) })
	}
	wg.Wait()
	started := 0
	for i, c := range clusters {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		t.Cleanup(func() {
			if err := c.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		if c.Started() {
			started++
		}
		if err := connect(t, c.ConnString()).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if started != 1 {
		t.Fatalf("%d of %d concurrent Starts started a server, want exactly 1", started, n)
	}
}
