package main

import (
	"context"
	"fmt"
	"io"

	"github.com/orchardmdm/orchard/store/embeddedpg"
)

const dbUsage = `usage: orchard db start [--data-dir DIR] [--fast]
       orchard db stop [--data-dir DIR]
       orchard db url [--data-dir DIR] [--database NAME]

  start  start (creating it on first use) the private PostgreSQL cluster of a data
         directory and print a connection string for its postgres database; the
         cluster keeps running until db stop
  stop   stop the cluster, even while orchard processes use it
  url    print the connection string of the running cluster's orchard database
         (for psql, pg_dump, or another orchard process's --database-url)

Without db start, orchard serve and the other commands start the cluster
themselves, and the last of them to exit stops it.
`

// dbCommand manages a data directory's private cluster from scripts (make test
// starts one for the test run and stops it after) and for operators.
func dbCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if done, err := groupHelp(args, dbUsage, []string{"start", "stop", "url"}, stdout, stderr); done {
		return err
	}
	var cfg Config
	var fast bool
	database := embeddedpg.DefaultDatabase
	fs := newFlagSet("db "+args[0], stderr)
	settings{fs}.str(&cfg.DataDir, "data-dir", "ORCHARD_DATA_DIR", "./orchard-data",
		"orchard's data directory, which holds the cluster")
	switch args[0] {
	case "start":
		fs.BoolVar(&fast, "fast", false, "turn off fsync (test clusters only: a crash can lose data)")
	case "url":
		fs.StringVar(&database, "database", database, "the database the URL names")
	}
	bindLogging(fs, &cfg, "warn")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("db %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	opts := embeddedpg.Options{DataDir: cfg.DataDir, Logger: logger, Fast: fast, Database: database}
	switch args[0] {
	case "stop":
		if err := embeddedpg.RequireInitialized(cfg.DataDir); err != nil {
			return err
		}
		return embeddedpg.Shutdown(ctx, opts)
	case "url":
		url, err := embeddedpg.RunningURL(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, url)
		return nil
	}
	opts.Detach = true
	cluster, err := embeddedpg.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, cluster.ConnStringFor("postgres"))
	return nil
}
