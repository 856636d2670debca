package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("orchard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("migrate", stderr)
	bindDatabase(fs, &cfg, "warn")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	// migrate is one of the commands that may make a new data directory.
	db, err := openMigrated(ctx, &cfg, logger, createDataDir)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	fmt.Fprintln(stdout, "database is up to date")
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
