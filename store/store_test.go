package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// A database that accepts the TCP connection and then says nothing must make
// Open fail with an error, not hang start-up forever.
func TestOpenGivesUpOnADatabaseThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	dsn := fmt.Sprintf("postgres://orchard@%s/orchard?sslmode=disable", ln.Addr())
	_, err = store.Open(context.Background(), dsn, pgtest.Sealer(t), store.Options{ConnectTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("Open succeeded against a silent server")
	}
	t.Logf("refused as expected: %v", err)
}

// AfterCommit's functions run once their transaction committed, in order,
// never for one that rolled back, and at once outside a transaction.
func TestAfterCommitRunsOnlyOnceCommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	var ran []string
	s.AfterCommit(func() { ran = append(ran, "pool") })
	err := s.Tx(ctx, func(q *store.Queries) error {
		q.AfterCommit(func() { ran = append(ran, "first") })
		q.AfterCommit(func() { ran = append(ran, "second") })
		if len(ran) != 1 {
			t.Errorf("ran before the commit: %v", ran)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rolledBack := s.Tx(ctx, func(q *store.Queries) error {
		q.AfterCommit(func() { ran = append(ran, "rolled back") })
		return errors.New("roll back")
	})
	if rolledBack == nil {
		t.Fatal("want the rollback's error")
	}
	if want := []string{"pool", "first", "second"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}
