package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/embeddedpg"
	"github.com/orchardmdm/orchard/store/seal"
)

// database is an open store and what must happen when the process is done with it.
type database struct {
	store *store.Store
	close func(ctx context.Context)
}

// openDatabase connects to ORCHARD_DATABASE_URL or, without one, to the private
// cluster in the data directory (started if needed, stopped by close if this
// process started it).
func openDatabase(ctx context.Context, cfg *Config, logger *slog.Logger, maxConns int) (*database, error) {
	sealer, err := openSealer(cfg)
	if err != nil {
		return nil, err
	}
	dsn := cfg.DatabaseURL
	stopCluster := func(context.Context) {}
	if dsn == "" {
		cluster, err := embeddedpg.Start(ctx, embeddedpg.Options{DataDir: cfg.DataDir, Logger: logger})
		if err != nil {
			return nil, err
		}
		dsn = cluster.ConnString()
		stopCluster = func(ctx context.Context) {
			if err := cluster.Stop(ctx); err != nil {
				logger.Error("stopping the embedded PostgreSQL failed", "err", err)
			}
		}
	}
	logger.Debug("connecting to PostgreSQL", "embedded", cfg.DatabaseURL == "", "timeout", store.DefaultConnectTimeout)
	s, err := store.Open(ctx, dsn, sealer, store.Options{MaxConns: int32(maxConns)})
	if err != nil {
		stopCluster(ctx)
		return nil, err
	}
	return &database{store: s, close: func(ctx context.Context) { s.Close(); stopCluster(ctx) }}, nil
}

// openSealer uses ORCHARD_SECRET_KEY, or the key file in the data directory
// (created on first use).
func openSealer(cfg *Config) (*seal.Sealer, error) {
	if cfg.SecretKey != "" {
		s, err := seal.ParseKeys(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("ORCHARD_SECRET_KEY: %w", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return seal.LoadOrCreateKeyFile(filepath.Join(cfg.DataDir, "secret.key"))
}

// openMigrated opens the database for a short command (a few connections) and
// brings its schema up to date first, so commands work on a fresh data directory.
func openMigrated(ctx context.Context, cfg *Config, logger *slog.Logger) (*database, error) {
	db, err := openDatabase(ctx, cfg, logger, 4)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, db.store.Pool(), logger); err != nil {
		db.close(context.WithoutCancel(ctx))
		return nil, err
	}
	return db, nil
}
