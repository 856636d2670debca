package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Who may stop the cluster. Every process using it holds a shared flock on
// postgres.users from Start to Stop; the kernel drops the lock when the
// process ends, kill -9 included, so a dead user never keeps the cluster up
// nor blocks stopping it. Stop, under the start lock (so no Start can join
// meanwhile), stops the server only when it can take that lock exclusively,
// that is when no other process uses the server, and postgres.autostop exists:
// a process started the cluster for itself, not `orchard db start` for others.
// So whichever user leaves last stops it: a CLI command that started the
// cluster leaves it to a server that joined meanwhile, and the server stops
// it when it exits.
const (
	startLockFile = "postgres.lock"
	usersFile     = "postgres.users"
	autostopFile  = "postgres.autostop"
)

// NotInitializedError reports a data directory without a cluster, to a
// command that must not create one.
type NotInitializedError struct {
	DataDir string
}

func (e *NotInitializedError) Error() string {
	return fmt.Sprintf("no orchard database in %s: run this where `orchard serve` keeps its data, "+
		"pass its --data-dir, or create one there with `orchard migrate --data-dir %s`", e.DataDir, e.DataDir)
}

// NotRunningError reports a cluster that exists but is not running.
type NotRunningError struct {
	DataDir string
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("the PostgreSQL cluster in %s is not running (start it with `orchard serve` or `orchard db start`)", e.DataDir)
}

func (c *Cluster) dataDir() string       { return filepath.Dir(c.root) }
func (c *Cluster) startLockPath() string { return filepath.Join(c.dataDir(), startLockFile) }

// initialized reports whether initdb has completed in the data directory.
func (c *Cluster) initialized() bool {
	_, err := os.Stat(filepath.Join(c.pgdata, "PG_VERSION"))
	return err == nil
}

// takeUse runs under the start lock once the server runs. A Cluster that
// started the server marks it for stopping by its last user; a detached Start
// unmarks it, so the server keeps running until Shutdown.
func (c *Cluster) takeUse(detach bool) error {
	if detach {
		c.clearAutostop()
		return nil
	}
	if c.Started() {
		if err := os.WriteFile(filepath.Join(c.dataDir(), autostopFile), nil, 0o600); err != nil {
			return fmt.Errorf("embeddedpg: mark cluster for stopping: %w", err)
		}
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir(), usersFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("embeddedpg: open users file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		_ = f.Close()
		return fmt.Errorf("embeddedpg: hold users lock: %w", err)
	}
	c.mu.Lock()
	c.users = f
	c.mu.Unlock()
	return nil
}

func (c *Cluster) clearAutostop() {
	if err := os.Remove(filepath.Join(c.dataDir(), autostopFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.logger.Warn("embeddedpg: remove autostop marker", "err", err)
	}
}

// othersUse reports whether any process holds the users lock.
func (c *Cluster) othersUse() bool {
	f, err := os.OpenFile(filepath.Join(c.dataDir(), usersFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), syscall.EWOULDBLOCK)
}

// Stop ends this Cluster's use of the server and stops the server if no
// other process uses it and it was not started detached. Stop is safe to call
// more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	using := c.users != nil
	c.mu.Unlock()
	if !using {
		return nil
	}
	unlock, err := lockDir(ctx, c.startLockPath())
	if err != nil {
		return err
	}
	defer unlock()
	return c.releaseLocked(ctx)
}

// releaseLocked runs under the start lock.
func (c *Cluster) releaseLocked(ctx context.Context) error {
	c.mu.Lock()
	f := c.users
	c.users = nil
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	defer f.Close()
	// Upgrading the shared lock succeeds only when no other process holds one.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		c.logger.DebugContext(ctx, "leaving embedded PostgreSQL running for its other users", "dir", c.pgdata)
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), autostopFile)); err != nil {
		return nil // started detached (orchard db start), or already stopped
	}
	running, err := c.running(ctx)
	if err != nil || !running {
		c.clearAutostop()
		return err
	}
	return c.stopServer(ctx)
}

// RunningURL returns the connection string of the running cluster's database
// without starting anything.
func RunningURL(ctx context.Context, opts Options) (string, error) {
	c, err := newCluster(opts)
	if err != nil {
		return "", err
	}
	if !c.initialized() {
		return "", &NotInitializedError{DataDir: c.dataDir()}
	}
	running, err := c.running(ctx)
	if err != nil {
		return "", err
	}
	if !running {
		return "", &NotRunningError{DataDir: c.dataDir()}
	}
	return c.ConnString(), nil
}

// RequireInitialized fails with a *NotInitializedError unless dataDir holds a
// cluster, without creating or starting anything.
func RequireInitialized(dataDir string) error {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("embeddedpg: resolve data directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, clusterDir, "data", "PG_VERSION")); err != nil {
		return &NotInitializedError{DataDir: abs}
	}
	return nil
}
