package main

import (
	"context"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

var vppsimAddr = regexp.MustCompile(`vppsim serving location .* at (http://\S+)`)

func TestVppsimServesTheTokenItPrints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sim := startSimulator(t, ctx, []string{"vppsim", "--listen", "127.0.0.1:0", "--assets", "7", "--location", "Lab"}, vppsimAddr)
	tok, err := appsbooks.ParseContentToken(sim.firstLine)
	if err != nil {
		t.Fatalf("vppsim printed %q: %v", sim.firstLine, err)
	}
	c := appsbooks.New(appsbooks.Config{BaseURL: sim.url, SToken: tok.SToken})
	if cfg, err := c.ClientConfig(ctx); err != nil || cfg.LocationName != "Lab" {
		t.Fatalf("client/config from vppsim: %v, %+v", err, cfg)
	}
	if page, err := c.Assets(ctx, 0); err != nil || len(page.Assets) != 7 {
		t.Fatalf("assets from vppsim: %v, %+v", err, page)
	}
	cancel()
	if err := <-sim.done; err != nil {
		t.Fatalf("vppsim did not stop cleanly: %v", err)
	}
	if err := run(context.Background(), []string{"vppsim", "--page-size", "0"}, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("vppsim accepted --page-size 0")
	}
}
