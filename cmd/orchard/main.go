// Command orchard is the Apple MDM server and its operator tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `orchard: an Apple MDM server

Usage:
  orchard serve [flags]             run the server (GraphQL API, MDM endpoint, jobs)
  orchard migrate [flags]           apply database migrations and exit
  orchard token create|revoke|list  manage API tokens
  orchard db start|stop|url         manage the private PostgreSQL cluster of a data directory
  orchard keys status|rewrap        which key seals each secret; reseal them all with the current key
  orchard loadtest [flags]          measure MDM connects/s and latency with simulated devices
  orchard mdmcerts -d DIR ...       vendor and push certificate requests for Apple's portals
  orchard depsim [flags]            run a DEP simulator (Apple's DEP service, for tests and demos)
  orchard swupdatesim [flags]       serve a software update catalog in Apple's shape (for tests and demos)
  orchard vppsim [flags]            run an Apps and Books simulator (one location, for demos)

Run "orchard <command> --help" for a command's flags. Every flag can also be set
with its ORCHARD_* environment variable.

Only serve, migrate and db start create a data directory (./orchard-data, or
--data-dir) when it holds none; every other command refuses and says where it looked.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		// Help and usage texts have been printed already.
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "orchard:", err)
		}
		os.Exit(exitCode(err))
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCommand(ctx, rest, stderr)
	case "migrate":
		return migrateCommand(ctx, rest, stdout, stderr)
	case "token":
		return tokenCommand(ctx, rest, stdout, stderr)
	case "db":
		return dbCommand(ctx, rest, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, stdout, stderr)
	case "loadtest":
		return loadtestCommand(ctx, rest, stdout, stderr)
	case "mdmcerts":
		return mdmcertsCommand(rest, stdin, stdout, stderr)
	case "depsim":
		return depsimCommand(ctx, rest, stdout, stderr)
	case "swupdatesim":
		return swupdatesimCommand(ctx, rest, stdout, stderr)
	case "vppsim":
		return vppsimCommand(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// errUsage reports a command line that is not a command; its usage has been printed.
var errUsage = errors.New("usage")

// exitCode is 0 for help asked for, 2 for a command line that is not a command.
func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}
