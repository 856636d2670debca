package main

import (
	"bufio"
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
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"vppsim", "--listen", "127.0.0.1:0", "--assets", "7", "--location", "Lab"}, nil, outW, errW)
		outW.Close()
		errW.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			if m := vppsimAddr.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	line, err := bufio.NewReader(outR).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, outR)
	tok, err := appsbooks.ParseContentToken(line)
	if err != nil {
		t.Fatalf("vppsim printed %q: %v", line, err)
	}
	c := appsbooks.New(appsbooks.Config{BaseURL: <-urls, SToken: tok.SToken})
	if cfg, err := c.ClientConfig(ctx); err != nil || cfg.LocationName != "Lab" {
		t.Fatalf("client/config from vppsim: %v, %+v", err, cfg)
	}
	if page, err := c.Assets(ctx, 0); err != nil || len(page.Assets) != 7 {
		t.Fatalf("assets from vppsim: %v, %+v", err, page)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("vppsim did not stop cleanly: %v", err)
	}
	if err := run(context.Background(), []string{"vppsim", "--page-size", "0"}, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("vppsim accepted --page-size 0")
	}
}
