package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"testing"
)

// runningSimulator is a simulator subcommand started in-process: the first
// line it printed on stdout (its token), the URL it logged, and its exit.
type runningSimulator struct {
	firstLine []byte
	url       string
	done      <-chan error
}

// startSimulator runs args until ctx ends, reading the token line from stdout
// and the serving URL from the log line addr matches.
func startSimulator(t *testing.T, ctx context.Context, args []string, addr *regexp.Regexp) runningSimulator {
	t.Helper()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, nil, outW, errW)
		outW.Close()
		errW.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			if m := addr.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	line, err := bufio.NewReader(outR).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, outR)
	return runningSimulator{firstLine: line, url: <-urls, done: done}
}
