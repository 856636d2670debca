// Command testpg starts and stops the PostgreSQL cluster that `make test`
// shares between test binaries, using the same code as `orchard serve`.
//
//	go run ./scripts/testpg start [-dir .test-pg] [-database orchard]   prints the connection URL
//	go run ./scripts/testpg stop  [-dir .test-pg]
//
// start leaves the server running so later test runs reuse it; stop ends it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/orchardmdm/orchard/store/embeddedpg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testpg:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: testpg start|stop [-dir DIR] [-database NAME]")
	}
	fs := flag.NewFlagSet("testpg "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".test-pg", "cluster data directory")
	database := fs.String("database", embeddedpg.DefaultDatabase, "database to create if missing")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := embeddedpg.Options{
		DataDir:  *dir,
		Database: *database,
		Fast:     true, // test data is disposable
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	switch args[0] {
	case "start":
		c, err := embeddedpg.Start(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Println(c.ConnString())
		return nil
	case "stop":
		return embeddedpg.Shutdown(ctx, opts)
	default:
		return fmt.Errorf("unknown command %q: want start or stop", args[0])
	}
}
