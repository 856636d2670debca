package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/store/embeddedpg"
)

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("orchard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func migrateCommand(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("migrate", stderr)
	bindDatabase(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	db, err := openMigrated(ctx, &cfg, logger)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	logger.Info("database is up to date")
	return nil
}

// stringList is a repeatable flag; each value may also hold a comma list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

func tokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const tokenUsage = "usage: orchard token create --name NAME --permission PERM [--permission PERM ...] [--ttl 2160h]\n" +
		"       orchard token revoke (--jti ID | --name NAME)\n"
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke") {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	var cfg Config
	var name, jti string
	var perms stringList
	var ttl time.Duration
	fs := newFlagSet("token "+args[0], stderr)
	bindDatabase(fs, &cfg)
	fs.StringVar(&name, "name", "", "who or what the token is for (audit trail)")
	if args[0] == "create" {
		fs.Var(&perms, "permission", "a permission (repeatable, or comma-separated); mdm.* grants all. Known: "+
			strings.Join(auth.KnownPermissions(), ", "))
		fs.DurationVar(&ttl, "ttl", auth.DefaultTTL, "how long the token is valid")
	} else {
		fs.StringVar(&jti, "jti", "", "the token id to revoke")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "revoke" && name == "" && jti == "" {
		return errors.New("token revoke needs --jti or --name")
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	db, err := openMigrated(ctx, &cfg, logger)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	svc, err := newService(&cfg, db.store, logger)
	if err != nil {
		return err
	}
	if args[0] == "revoke" {
		n, err := svc.RevokeAPITokens(ctx, "cli", jti, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked %d token(s)\n", n)
		return nil
	}
	tokens, err := auth.NewTokens(ctx, db.store, svc)
	if err != nil {
		return err
	}
	signed, rec, err := tokens.Issue(ctx, name, perms, ttl, "cli")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token %s for %q, expires %s, permissions %s\n", rec.JTI, rec.Name,
		rec.ExpiresAt.Format(time.RFC3339), strings.Join(rec.Permissions, ","))
	fmt.Fprintln(stdout, signed)
	return nil
}

// dbCommand manages a data directory's private cluster from scripts (make test
// starts one for the test run and stops it after).
func dbCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "start" && args[0] != "stop") {
		fmt.Fprint(stderr, "usage: orchard db start|stop [--data-dir DIR] [--fast]\n"+
			"  start prints a connection string for the cluster's postgres database\n")
		return errUsage
	}
	var cfg Config
	var fast bool
	fs := newFlagSet("db "+args[0], stderr)
	bindDatabase(fs, &cfg)
	fs.BoolVar(&fast, "fast", false, "turn off fsync (test clusters only: a crash can lose data)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	opts := embeddedpg.Options{DataDir: cfg.DataDir, Logger: logger, Fast: fast}
	if args[0] == "stop" {
		return embeddedpg.Shutdown(ctx, opts)
	}
	cluster, err := embeddedpg.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, cluster.ConnStringFor("postgres"))
	return nil
}
