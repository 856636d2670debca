package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prepareDirs checks the server user can reach the data directory, creates
// the cluster directory and hands it to the server user.
func (c *Cluster) prepareDirs(ctx context.Context) error {
	if err := c.user.checkTraversable(filepath.Dir(c.root)); err != nil {
		return err
	}
	if err := os.Mkdir(c.root, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("embeddedpg: create %s: %w", c.root, err)
	}
	// A cluster directory that is not yet the server user's (new, or made by
	// a run under another identity) is closed to that user, so it cannot have
	// planted links to redirect the recursive chown.
	if !c.user.ownedBy(c.root) {
		if err := c.user.chownTree(c.root); err != nil {
			return fmt.Errorf("embeddedpg: give %s to user %s: %w", c.root, c.user.Name, err)
		}
	}
	// Inside the cluster directory the server user is in charge, so work
	// there is done as that user: root following a link it placed could
	// otherwise touch any file. The socket directory's mode is what keeps
	// other local users away from the server.
	if _, err := c.asServer(ctx, nil, `umask 077 && mkdir -p "$1" && chmod 0700 "$1"`, c.socketDir); err != nil {
		return fmt.Errorf("embeddedpg: create socket directory: %w", err)
	}
	return nil
}

// makeDataDir creates orchard's data directory if missing. When PostgreSQL
// runs as another user, a new data directory is group-owned by that user's
// group and mode 0710, so the server can pass through it and no one else can.
func (c *Cluster) makeDataDir(dataDir string) error {
	if _, err := os.Stat(dataDir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("embeddedpg: create data directory: %w", err)
	}
	if !c.user.drop {
		return nil
	}
	if err := os.Chown(dataDir, -1, int(c.user.GID)); err != nil {
		return fmt.Errorf("embeddedpg: chgrp data directory: %w", err)
	}
	if err := os.Chmod(dataDir, 0o710); err != nil {
		return fmt.Errorf("embeddedpg: chmod data directory: %w", err)
	}
	return nil
}

// lockDir takes an exclusive flock on path, polling so ctx can cancel the wait.
// The lock dies with the process, so a crash never leaves it stale.
func lockDir(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embeddedpg: open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("embeddedpg: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("embeddedpg: wait for lock %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// initIfNeeded runs initdb on first use and otherwise checks that the
// binaries can serve the existing cluster.
func (c *Cluster) initIfNeeded(ctx context.Context, fast bool) error {
	major, err := c.bins.MajorVersion(ctx)
	if err != nil {
		return err
	}
	existing, err := os.ReadFile(filepath.Join(c.pgdata, "PG_VERSION"))
	if err == nil {
		if v := strings.TrimSpace(string(existing)); v != major {
			return fmt.Errorf("embeddedpg: cluster in %s was created by PostgreSQL %s but the binaries in %s are version %s; "+
				"install PostgreSQL %s binaries or dump and restore the cluster", c.pgdata, v, c.bins.Dir, major, v)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embeddedpg: read PG_VERSION: %w", err)
	}
	// A half-made directory from an interrupted initdb would make initdb refuse.
	if err := os.RemoveAll(c.pgdata); err != nil {
		return fmt.Errorf("embeddedpg: clear incomplete cluster: %w", err)
	}
	args := []string{"-D", c.pgdata, "--username=" + Superuser, "--auth=trust", "--encoding=UTF8", "--no-locale"}
	if fast {
		args = append(args, "--no-sync")
	}
	if _, err := c.run(ctx, c.bins.InitDB, args...); err != nil {
		return fmt.Errorf("embeddedpg: initdb: %w", err)
	}
	if err := c.writeServerFile(ctx, "pg_hba.conf", hbaConf); err != nil {
		return err
	}
	include := "\n# Settings managed by orchard, rewritten at every start.\ninclude_if_exists = 'orchard.conf'\n"
	if err := c.appendServerFile(ctx, "postgresql.conf", include); err != nil {
		return err
	}
	c.logger.InfoContext(ctx, "created embedded PostgreSQL cluster", "dir", c.pgdata, "version", major)
	return nil
}

// hbaConf allows local socket connections only; with listen_addresses empty
// there is no TCP listener, and no host line accepts one anyway.
const hbaConf = `# Managed by orchard: unix-socket connections only, protected by the
# socket directory's permissions.
local all all trust
`

// writeConfig (re)writes orchard.conf so the settings follow the code.
func (c *Cluster) writeConfig(ctx context.Context, fast bool) error {
	durable := "on"
	if fast {
		durable = "off"
	}
	settings := []struct{ key, value string }{
		{"listen_addresses", "''"},
		{"port", strconv.Itoa(port)},
		// Double quotes inside keep a comma in the path from splitting the list.
		{"unix_socket_directories", confQuote(`"` + strings.ReplaceAll(c.socketDir, `"`, `""`) + `"`)},
		{"unix_socket_permissions", "0700"},
		{"max_connections", "200"},
		{"shared_buffers", "'64MB'"},
		{"fsync", durable},
		{"synchronous_commit", durable},
		{"full_page_writes", durable},
		{"log_line_prefix", "'%m [%p] %q%u@%d '"},
		{"log_timezone", "'UTC'"},
	}
	var b strings.Builder
	b.WriteString("# Written by orchard at every start; edits are overwritten.\n")
	for _, s := range settings {
		fmt.Fprintf(&b, "%s = %s\n", s.key, s.value)
	}
	return c.writeServerFile(ctx, "orchard.conf", b.String())
}

// confQuote quotes a string value for postgresql.conf, which reads
// backslash escapes and doubled single quotes.
func confQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// writeServerFile replaces a file in the cluster, writing as the server user.
func (c *Cluster) writeServerFile(ctx context.Context, name, content string) error {
	path := filepath.Join(c.pgdata, name)
	if _, err := c.asServer(ctx, []byte(content), `umask 077 && cat > "$1"`, path); err != nil {
		return fmt.Errorf("embeddedpg: write %s: %w", name, err)
	}
	return nil
}

// appendServerFile extends a file in the cluster, writing as the server user.
func (c *Cluster) appendServerFile(ctx context.Context, name, content string) error {
	path := filepath.Join(c.pgdata, name)
	if _, err := c.asServer(ctx, []byte(content), `cat >> "$1"`, path); err != nil {
		return fmt.Errorf("embeddedpg: extend %s: %w", name, err)
	}
	return nil
}

// maxLogSize is the size past which a start begins a fresh server log.
const maxLogSize = 16 << 20

// rotateLog keeps one previous server log once the current one grows large.
// The server writes to the file only while running, so rotating before
// pg_ctl start loses nothing. Failures only cost disk space, so they are ignored.
func rotateLog(path string, limit int64) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > limit {
		_ = os.Rename(path, path+".1")
	}
}

// withLogTail appends the end of the server log, where PostgreSQL says why.
func (c *Cluster) withLogTail(err error) error {
	tail := logTail(c.logFile, 4096)
	if tail == "" {
		return err
	}
	return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.logFile, tail)
}

func logTail(path string, limit int64) string {
	// The log's directory is the server user's: do not follow a link there.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-limit, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	s := string(buf)
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(s, "\n")
}
