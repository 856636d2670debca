package main

import (
	"context"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

var depsimAddr = regexp.MustCompile(`depsim serving \d+ devices at (http://\S+)`)

func TestDepsimServesTheTokenItPrints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sim := startSimulator(t, ctx, []string{"depsim", "--listen", "127.0.0.1:0", "--devices", "5", "--consumer-key", "CK"}, depsimAddr)
	tok, err := dep.ParseTokenJSON(sim.firstLine)
	if err != nil {
		t.Fatalf("depsim printed %q: %v", sim.firstLine, err)
	}
	c := dep.New(dep.Config{BaseURL: sim.url, Credentials: tok.Credentials()})
	page, err := c.FetchDevices(ctx, 100, "")
	if err != nil || len(page.Devices) != 5 {
		t.Fatalf("fetch from depsim: %v, %+v", err, page)
	}
	if acct, err := c.Account(ctx); err != nil || acct.ServerUUID == "" || tok.ConsumerKey != "CK" {
		t.Fatalf("account from depsim: %v, %+v", err, acct)
	}
	cancel()
	if err := <-sim.done; err != nil {
		t.Fatalf("depsim did not stop cleanly: %v", err)
	}
	if err := run(context.Background(), []string{"depsim", "--fail-status", "404"}, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("depsim accepted --fail-status 404")
	}
}
