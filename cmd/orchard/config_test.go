package main

import (
	"io"
	"testing"

	"github.com/orchardmdm/orchard/graph"
)

func TestGraphQLLimitsComeFromFlagsAndVariables(t *testing.T) {
	t.Setenv("ORCHARD_GRAPHQL_MAX_ALIASES", "7")
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	bindServe(fs, &cfg)
	if err := fs.Parse([]string{"--graphql-max-fields", "300", "--max-db-conns", "10"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	want := graph.DefaultLimits()
	got := cfg.GraphQL
	if got.Document.Aliases != 7 || got.Document.Fields != 300 || got.Document.Tokens != want.Document.Tokens {
		t.Errorf("document limits %+v", got.Document)
	}
	if got.DBConcurrency != 5 || got.CallerDBConcurrency != want.CallerDBConcurrency {
		t.Errorf("database concurrency %d (caller %d), want half of 10 and %d", got.DBConcurrency, got.CallerDBConcurrency, want.CallerDBConcurrency)
	}
	if got.Anonymous != want.Anonymous {
		t.Errorf("anonymous limits %+v, want %+v", got.Anonymous, want.Anonymous)
	}
}
