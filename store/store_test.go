package store_test

import (
	"context"
	"fmt"
	"net"
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
