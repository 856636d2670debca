package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/mdmcerts"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
)

// swupdatesimCommand serves a software update catalog in Apple's shape, for
// demos and tests without Apple: the sample catalog, or a JSON file in
// Apple's format (a saved copy of https://gdmf.apple.com/v2/pmv).
func swupdatesimCommand(ctx context.Context, args []string, _, stderr io.Writer) error {
	var listen, file string
	fs := newFlagSet("swupdatesim", stderr)
	fs.StringVar(&listen, "listen", "127.0.0.1:8091", "HTTP listen address")
	fs.StringVar(&file, "catalog", "", "JSON catalog in Apple's format to serve (default: a small sample dated today)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	catalog, err := simCatalog(file)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "swupdatesim serving a software update catalog at http://%s/v2/pmv\n"+
		"Run orchard with --software-update-url http://%s\n", ln.Addr(), ln.Addr())
	return serveUntilDone(ctx, ln, swupdatesim.New(catalog))
}

func simCatalog(file string) (swupdate.Catalog, error) {
	if file == "" {
		return swupdatesim.Sample(time.Now().UTC()), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return swupdate.Catalog{}, err
	}
	c, err := swupdate.Parse(data)
	if err == nil {
		_, err = c.Entries()
	}
	if err != nil {
		return swupdate.Catalog{}, fmt.Errorf("%s: %w", file, err)
	}
	// Served re-encoded: keys orchard does not know are dropped.
	return *c, nil
}

// newSoftwareUpdateClient is the catalog client of --software-update-url:
// Apple's host is verified against Apple's root shipped in mdmcerts, any
// other host against the system roots (SSL_CERT_FILE).
func newSoftwareUpdateClient(baseURL string) (*swupdate.Client, error) {
	chain, err := mdmcerts.AppleChain()
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	for _, c := range chain {
		if mdmproto.SelfSigned(c) {
			roots.AddCert(c)
		}
	}
	hc, err := swupdate.HTTPClientFor(baseURL, roots)
	if err != nil {
		return nil, err
	}
	return swupdate.New(swupdate.Config{BaseURL: baseURL, HTTPClient: hc})
}
