package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// readyTimeout bounds how long a just-started or reused server may take to
// accept connections after pg_ctl reports it up.
const readyTimeout = 30 * time.Second

// waitReady connects to the maintenance database until the server answers.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var lastErr error
	for {
		conn, err := pgx.Connect(ctx, c.ConnStringFor("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("embeddedpg: server at %s not accepting connections: %w", c.socketDir, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureDatabase creates the configured database if it does not exist yet.
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.ConnStringFor("postgres"))
	if err != nil {
		return fmt.Errorf("embeddedpg: connect to create database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", c.database).Scan(&exists)
	if err != nil {
		return fmt.Errorf("embeddedpg: look up database %q: %w", c.database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("embeddedpg: create database %q: %w", c.database, err)
	}
	c.logger.InfoContext(ctx, "created database", "database", c.database)
	return nil
}
