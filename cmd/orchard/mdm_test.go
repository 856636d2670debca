package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestServeEnrollsDevicesAndLoadtestMeasuresThem runs `orchard serve` with a
// public URL devices can reach, then `orchard loadtest` against it: profile,
// SCEP, check-ins and commands all go through the real binary's routes.
func TestServeEnrollsDevicesAndLoadtestMeasuresThem(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	key := testKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := orchardCmd(t, dsn, key, "serve", "--listen", addr, "--public-url", "http://"+addr, "--shutdown-timeout", "5s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "orchard is serving") {
				close(serving)
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(60 * time.Second):
		t.Fatal("orchard serve did not start")
	}
	out, err := orchardCmd(t, dsn, key, "token", "create", "--name", "load", "--permission", "mdm.*").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	var stdout, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = run(ctx, []string{"loadtest", "--url", "http://" + addr, "--token", strings.TrimSpace(string(out)),
		"--devices", "4", "--rounds", "2", "--concurrency", "2"}, nil, &stdout, &errOut)
	if err != nil {
		t.Fatalf("loadtest: %v\n%s%s", err, stdout.String(), errOut.String())
	}
	report := stdout.String()
	for _, want := range []string{"enrolled 4 devices", "idle:", "8 connects", "with command:", "p99", "server CPU", "devices' CPU", "removed 4 simulated devices"} {
		if !strings.Contains(report, want) {
			t.Errorf("loadtest report lacks %q:\n%s", want, report)
		}
	}
	got := graphqlQuery(t, "http://"+addr, strings.TrimSpace(string(out)),
		`{ devices(filter: {platform: "macOS"}) { totalCount } enrollments { totalCount } }`)
	// Without --keep, the run leaves nothing behind.
	if got != `{"data":{"devices":{"totalCount":0},"enrollments":{"totalCount":0}}}` {
		t.Fatalf("after the load test: %s", got)
	}
}
