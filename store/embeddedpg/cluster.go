// Package embeddedpg runs a private PostgreSQL cluster inside orchard's data
// directory, reachable only over a unix socket in that directory.
//
// Layout under the data directory:
//
//	postgres/            owned by the server user, mode 0700
//	postgres/data/       the cluster (PGDATA), made by initdb on first start
//	postgres/run/        the unix socket; its 0700 mode is the access control
//	postgres/postgres.log  server log (the previous one is kept as .1)
//	postgres.lock        serializes Starts and Stops
//	postgres.users       every process using the cluster holds a shared lock on it
//	postgres.autostop    present while the last user out should stop the cluster
//
// PostgreSQL refuses to run as root, so a root process runs initdb, pg_ctl
// and postgres as the "postgres" account (or "nobody"); root itself can
// still connect because it bypasses the socket directory's permissions.
package embeddedpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

const (
	// DefaultDataDir is used when Options.DataDir is empty.
	DefaultDataDir = "orchard-data"
	// DefaultDatabase is created when Options.Database is empty.
	DefaultDatabase = "orchard"
	// Superuser is the role initdb creates; local socket connections use it.
	Superuser = "orchard"

	// clusterDir is the subdirectory of the data directory that belongs to
	// the PostgreSQL user; the rest of the data directory stays orchard's.
	clusterDir = "postgres"
	port       = 5432
	// maxSocketPath is sizeof(sockaddr_un.sun_path) minus the NUL byte.
	maxSocketPath = 107
)

// Options configure Start.
type Options struct {
	DataDir  string       // orchard's data directory; the cluster lives in DataDir/postgres
	Logger   *slog.Logger // nil: slog.Default()
	Database string       // database to create if missing; empty: "orchard"
	// Fast turns off fsync, synchronous_commit and full_page_writes, and
	// skips initdb's sync. For test clusters only: a crash can lose data.
	Fast bool
	// Binaries overrides discovery (FindBinaries) when its Dir is set.
	Binaries Binaries
	// MustExist refuses to create a cluster: Start fails with a
	// *NotInitializedError when DataDir holds none (a mistyped --data-dir).
	MustExist bool
	// Detach leaves the cluster running for others until Shutdown: Start
	// takes no use of it and no later Stop will stop it (`orchard db start`).
	Detach bool
}

// Cluster is a running PostgreSQL cluster, started by this process or found
// already running in the same directory.
type Cluster struct {
	root      string // DataDir/postgres, owned by the server user
	pgdata    string
	socketDir string
	logFile   string
	database  string
	bins      Binaries
	user      serverUser
	logger    *slog.Logger

	mu      sync.Mutex
	started bool     // this Cluster started the server
	users   *os.File // holds a shared lock on postgres.users while this Cluster uses the server
}

// SocketPathTooLongError reports a data directory whose socket path would
// not fit in a unix socket address.
type SocketPathTooLongError struct {
	Path string
}

func (e *SocketPathTooLongError) Error() string {
	return fmt.Sprintf("embeddedpg: unix socket path %s is %d bytes, over the %d-byte limit of unix sockets; "+
		"choose a data directory with a shorter absolute path",
		e.Path, len(e.Path), maxSocketPath)
}

// Start creates the cluster on first use, starts it unless it is already
// running, and creates the database if missing. Concurrent Starts on one
// directory (several test binaries, or serve and a CLI command) serialize on a
// lock file; the later ones reuse the running server. Unless opts.Detach,
// the caller uses the server until Stop, which stops it only when no other
// process uses it (see owners.go).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if opts.MustExist && !c.initialized() {
		return nil, &NotInitializedError{DataDir: c.dataDir()}
	}
	if err := c.makeDataDir(c.dataDir()); err != nil {
		return nil, err
	}
	// The lock file lives in orchard's directory, beyond the server user's reach.
	unlock, err := lockDir(ctx, c.startLockPath())
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := c.prepareDirs(ctx); err != nil {
		return nil, err
	}
	if err := c.startLocked(ctx, opts.Fast); err != nil {
		return nil, err
	}
	if err := c.takeUse(opts.Detach); err != nil {
		return nil, err
	}
	if err := c.ensureDatabase(ctx); err != nil {
		_ = c.releaseLocked(context.WithoutCancel(ctx))
		return nil, err
	}
	return c, nil
}

func newCluster(opts Options) (*Cluster, error) {
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("embeddedpg: resolve data directory: %w", err)
	}
	root := filepath.Join(dataDir, clusterDir)
	c := &Cluster{
		root:      root,
		pgdata:    filepath.Join(root, "data"),
		socketDir: filepath.Join(root, "run"),
		logFile:   filepath.Join(root, "postgres.log"),
		database:  opts.Database,
		bins:      opts.Binaries,
		logger:    opts.Logger,
	}
	if c.database == "" {
		c.database = DefaultDatabase
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if sock := c.socketPath(); len(sock) > maxSocketPath {
		return nil, &SocketPathTooLongError{Path: sock}
	}
	if c.bins.Dir == "" {
		if c.bins, err = FindBinaries(); err != nil {
			return nil, err
		}
	}
	if c.user, err = pickServerUser(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) socketPath() string {
	return filepath.Join(c.socketDir, ".s.PGSQL."+strconv.Itoa(port))
}

// startLocked runs with the start lock held.
func (c *Cluster) startLocked(ctx context.Context, fast bool) error {
	running, err := c.running(ctx)
	if err != nil {
		return err
	}
	if running {
		c.logger.InfoContext(ctx, "reusing running embedded PostgreSQL", "dir", c.pgdata)
		return c.waitReady(ctx)
	}
	if err := c.initIfNeeded(ctx, fast); err != nil {
		return err
	}
	if err := c.writeConfig(ctx, fast); err != nil {
		return err
	}
	if err := c.startServer(ctx); err != nil {
		return err
	}
	c.logger.InfoContext(ctx, "started embedded PostgreSQL", "dir", c.pgdata, "socket_dir", c.socketDir, "fast", fast)
	return nil
}

// ConnString returns a pgx/libpq URL for the cluster's database.
func (c *Cluster) ConnString() string { return c.ConnStringFor(c.database) }

// ConnStringFor returns a pgx/libpq URL for another database on the cluster,
// for callers that create databases of their own (tests, templates).
func (c *Cluster) ConnStringFor(database string) string {
	q := url.Values{
		"host":    {c.socketDir},
		"port":    {strconv.Itoa(port)},
		"sslmode": {"disable"},
	}
	u := url.URL{Scheme: "postgres", User: url.User(Superuser), Path: "/" + database, RawQuery: q.Encode()}
	return u.String()
}

// Started reports whether this Cluster started the server.
func (c *Cluster) Started() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// LogFile is the server log's path.
func (c *Cluster) LogFile() string { return c.logFile }

// Shutdown stops the cluster in opts.DataDir whoever uses it, for tools
// that manage a shared cluster's lifetime (a test run's, or an operator's).
// It is a no-op when no server is running there.
func Shutdown(ctx context.Context, opts Options) error {
	c, err := newCluster(opts)
	if err != nil {
		return err
	}
	unlock, err := lockDir(ctx, c.startLockPath())
	if err != nil {
		return err
	}
	defer unlock()
	running, err := c.running(ctx)
	if err != nil || !running {
		return err
	}
	if c.othersUse() {
		c.logger.WarnContext(ctx, "stopping embedded PostgreSQL while other orchard processes use it", "dir", c.pgdata)
	}
	return c.stopServer(ctx)
}

// stopServer shuts the server down (fast mode: open sessions are ended).
func (c *Cluster) stopServer(ctx context.Context) error {
	if _, err := c.pgctl(ctx, "stop", "-D", c.pgdata, "-m", "fast", "-w", "-t", "60", "-s"); err != nil {
		// Stopped by someone else (Shutdown, an operator): the goal is met.
		if running, rerr := c.running(ctx); rerr != nil || running {
			return c.withLogTail(fmt.Errorf("embeddedpg: stop: %w", err))
		}
	}
	c.clearAutostop()
	c.logger.InfoContext(ctx, "stopped embedded PostgreSQL", "dir", c.pgdata)
	return nil
}

// running asks pg_ctl whether a server owns the data directory.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	if _, err := os.Stat(filepath.Join(c.pgdata, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	_, err := c.pgctl(ctx, "status", "-D", c.pgdata)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 3: // documented: not running
		return false, nil
	default:
		return false, fmt.Errorf("embeddedpg: check server status: %w", err)
	}
}

func (c *Cluster) startServer(ctx context.Context) error {
	rotateLog(c.logFile, maxLogSize)
	_, err := c.pgctl(ctx, "start", "-D", c.pgdata, "-l", c.logFile, "-w", "-t", "60", "-s")
	if err != nil {
		return c.withLogTail(fmt.Errorf("embeddedpg: start server: %w", err))
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	if err := c.waitReady(ctx); err != nil {
		_ = c.stopServer(context.WithoutCancel(ctx))
		return c.withLogTail(err)
	}
	return nil
}

// pgctl runs pg_ctl as the server user; its output is folded into the error.
func (c *Cluster) pgctl(ctx context.Context, args ...string) ([]byte, error) {
	return c.run(ctx, c.bins.PGCtl, args...)
}

// asServer runs a shell script as the server user with args as $1...
func (c *Cluster) asServer(ctx context.Context, stdin []byte, script string, args ...string) ([]byte, error) {
	return c.runInput(ctx, stdin, "/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
}

func (c *Cluster) run(ctx context.Context, program string, args ...string) ([]byte, error) {
	return c.runInput(ctx, nil, program, args...)
}

// runInput runs program as the server user in the cluster directory, with a
// fixed environment so a caller's PG* variables cannot redirect it.
func (c *Cluster) runInput(ctx context.Context, stdin []byte, program string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, program, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Dir = c.root
	cmd.Env = []string{
		"PATH=" + c.bins.Dir + string(os.PathListSeparator) + "/usr/bin:/bin",
		"LC_ALL=C",
		"LANG=C",
	}
	cmd.SysProcAttr = c.user.sysProcAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg != "" {
			return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(program), args[0], err, msg)
		}
		return out, fmt.Errorf("%s %s: %w", filepath.Base(program), args[0], err)
	}
	return out, nil
}
