package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/orchardmdm/orchard/store"
)

const keysUsage = `usage: orchard keys status|rewrap [--batch N]
  status   how many sealed values each key id holds, per table and column
  rewrap   seal again with the current (first) key of --secret-key every value
           another key sealed: online, batch rows per transaction, resumable by
           running it again. Once status shows only the current key, the old
           keys can leave --secret-key.
`

// keysCommand shows and moves the keys that seal secrets at rest.
func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if done, err := groupHelp(args, keysUsage, []string{"status", "rewrap"}, stdout, stderr); done {
		return err
	}
	var cfg Config
	var batch int
	fs := newFlagSet("keys "+args[0], stderr)
	bindDatabase(fs, &cfg, "warn")
	if args[0] == "rewrap" {
		fs.IntVar(&batch, "batch", 500, "rows per transaction")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	db, err := openMigrated(ctx, &cfg, logger, existingDataDir)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	if args[0] == "status" {
		return keysStatus(ctx, db.store, stdout)
	}
	return keysRewrap(ctx, db.store, batch, stdout)
}

func keysStatus(ctx context.Context, s *store.Store, stdout io.Writer) error {
	uses, err := s.SealedKeyUse(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "TABLE\tCOLUMN\tKEY ID\tVALUES\n")
	for _, u := range uses {
		current := ""
		if u.KeyID == s.Sealer().KeyID() {
			current = " (current)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s%s\t%d\n", u.Table, u.Column, u.KeyID, current, u.Count)
	}
	return w.Flush()
}

func keysRewrap(ctx context.Context, s *store.Store, batch int, stdout io.Writer) error {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "TABLE\tCOLUMN\tREWRAPPED\tFAILED\n")
	var failed int64
	_, err := s.Rewrap(ctx, batch, func(c store.RewrapCount) {
		failed += c.Failed
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", c.Table, c.Column, c.Rewrapped, c.Failed)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("rewrap stopped (run it again to resume): %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("%d sealed values did not open with the keys given: they keep their old key", failed)
	}
	return nil
}
