package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
)

// depsimCommand runs the DEP simulator: Apple's DEP service semantics for
// people and tests without Apple access. It prints the stoken.json to upload
// to orchard (uploadDEPToken) on stdout.
func depsimCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg depsim.Config
	var listen string
	fs := newFlagSet("depsim", stderr)
	fs.IntVar(&cfg.Devices, "devices", 1000, "devices the simulated server starts with")
	fs.StringVar(&listen, "listen", "127.0.0.1:8090", "HTTP listen address")
	fs.DurationVar(&cfg.SessionTTL, "session-ttl", 3*time.Minute, "how long a session token lives")
	fs.DurationVar(&cfg.CursorTTL, "cursor-ttl", 7*24*time.Hour, "how long a fetch or sync cursor lives")
	fs.IntVar(&cfg.MaxLimit, "max-page", dep.MaxPage, "largest page of fetch and sync")
	fs.IntVar(&cfg.FailEvery, "fail-every", 0, "answer every Nth call with --fail-status (0: never)")
	fs.IntVar(&cfg.FailStatus, "fail-status", http.StatusTooManyRequests, "status of injected failures (429 or 5xx)")
	fs.StringVar(&cfg.Credentials.ConsumerKey, "consumer-key", "", "consumer key to accept (default: random)")
	fs.StringVar(&cfg.Credentials.ConsumerSecret, "consumer-secret", "", "consumer secret to accept (default: random)")
	fs.StringVar(&cfg.Credentials.AccessToken, "access-token", "", "access token to accept (default: random)")
	fs.StringVar(&cfg.Credentials.AccessSecret, "access-secret", "", "access secret to accept (default: random)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Devices < 0 || cfg.MaxLimit < 1 || cfg.FailEvery < 0 {
		return errors.New("--devices and --fail-every must be 0 or more, --max-page at least 1")
	}
	if cfg.FailStatus != http.StatusTooManyRequests && (cfg.FailStatus < 500 || cfg.FailStatus > 599) {
		return errors.New("--fail-status must be 429 or 5xx")
	}
	sim := depsim.New(cfg)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	creds := sim.Credentials()
	fmt.Fprintf(stderr, "depsim serving %d devices at http://%s\nconsumer key %s\naccess token %s\n"+
		"Upload the stoken.json below to orchard (uploadDEPToken content) and run orchard with --dep-url http://%s\n",
		cfg.Devices, ln.Addr(), creds.ConsumerKey, creds.AccessToken, ln.Addr())
	fmt.Fprintln(stdout, string(sim.TokenJSON()))
	return serveUntilDone(ctx, ln, sim)
}
