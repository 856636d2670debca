package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
)

// vppsimCommand runs the Apps and Books simulator: one location with
// assets, for demos without Apple. It prints the location's content token
// (uploadLocationToken content) on stdout.
func vppsimCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var listen, name, org string
	var assets, licences int
	sim := vppsim.New()
	fs := newFlagSet("vppsim", stderr)
	fs.StringVar(&listen, "listen", "127.0.0.1:8091", "HTTP listen address")
	fs.StringVar(&name, "location", "Main location", "the location's name")
	fs.StringVar(&org, "org", "Example Org", "the organization's name")
	fs.IntVar(&assets, "assets", 50, "apps the location holds")
	fs.IntVar(&licences, "licences", 100, "licences of each app")
	fs.IntVar(&sim.PageSize, "page-size", 500, "records per page of assets and assignments")
	fs.IntVar(&sim.PendingPolls, "pending-polls", 1, "status polls an associate event stays PENDING")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if assets < 0 || licences < 0 || sim.PageSize < 1 || sim.PendingPolls < 0 {
		return errors.New("--assets, --licences and --pending-polls must be 0 or more, --page-size at least 1")
	}
	loc, stoken := sim.NewLocation(vppsim.Location{Name: name, OrgName: org, Country: "US", Platform: "enterprisestore",
		Website: "https://business.apple.com"})
	sim.AddAssets(loc, assets, licences)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "vppsim serving location %q (%d apps) at http://%s\n"+
		"Run orchard with --appsbooks-url http://%s and upload the content token below (uploadLocationToken content)\n",
		name, assets, ln.Addr(), ln.Addr())
	fmt.Fprintln(stdout, stoken)
	return serveUntilDone(ctx, ln, sim.Handler())
}
