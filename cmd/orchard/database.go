package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/embeddedpg"
	"github.com/orchardmdm/orchard/store/seal"
)

// dataDirUse says whether a command may make a new data directory. Only the
// commands that set orchard up (serve, migrate, db start) may: any other
// command run from the wrong folder, or with a mistyped --data-dir, would
// otherwise make a second, empty installation and act on it.
type dataDirUse bool

const (
	createDataDir   dataDirUse = true
	existingDataDir dataDirUse = false
)

const keyFileName = "secret.key"

// database is an open store and what must happen when the process is done with it.
type database struct {
	store *store.Store
	close func(ctx context.Context)
}

// openDatabase connects to ORCHARD_DATABASE_URL or, without one, to the private
// cluster in the data directory (started if needed; close ends this process's
// use of it, which stops it when no other process uses it).
func openDatabase(ctx context.Context, cfg *Config, logger *slog.Logger, maxConns int, use dataDirUse) (*database, error) {
	if use == existingDataDir && cfg.DatabaseURL == "" {
		if err := embeddedpg.RequireInitialized(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	sealer, err := openSealer(cfg, use)
	if err != nil {
		return nil, err
	}
	dsn := cfg.DatabaseURL
	stopCluster := func(context.Context) {}
	if dsn == "" {
		cluster, err := embeddedpg.Start(ctx, embeddedpg.Options{DataDir: cfg.DataDir, Logger: logger, MustExist: use == existingDataDir})
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
// (created on first use by a command that may create the data directory).
func openSealer(cfg *Config, use dataDirUse) (*seal.Sealer, error) {
	if cfg.SecretKey != "" {
		s, err := seal.ParseKeys(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("ORCHARD_SECRET_KEY: %w", err)
		}
		return s, nil
	}
	path := filepath.Join(cfg.DataDir, keyFileName)
	if use == existingDataDir {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			abs, _ := filepath.Abs(cfg.DataDir)
			return nil, fmt.Errorf("no secret key file %s: run this where `orchard serve` keeps its data, "+
				"pass its --data-dir, or give the key with --secret-key", filepath.Join(abs, keyFileName))
		}
		return seal.LoadOrCreateKeyFile(path)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return seal.LoadOrCreateKeyFile(path)
}

// openMigrated opens the database for a short command (a few connections) and
// brings its schema up to date first, so commands work after an upgrade.
func openMigrated(ctx context.Context, cfg *Config, logger *slog.Logger, use dataDirUse) (*database, error) {
	db, err := openDatabase(ctx, cfg, logger, 4, use)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, db.store.Pool(), logger); err != nil {
		db.close(context.WithoutCancel(ctx))
		return nil, err
	}
	return db, nil
}
