package main

import (
	"io"
	"strings"
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

func TestGraphQLIntrospectionFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want bool
	}{
		{name: "default on", want: true},
		{name: "flag off", args: []string{"--graphql-introspection=false"}, want: false},
		{name: "variable off", env: "false", want: false},
		{name: "flag wins over variable", env: "false", args: []string{"--graphql-introspection"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("ORCHARD_GRAPHQL_INTROSPECTION", tc.env)
			}
			var cfg Config
			fs := newFlagSet("serve", io.Discard)
			bindServe(fs, &cfg)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if cfg.GraphQLIntrospection != tc.want {
				t.Errorf("GraphQLIntrospection = %t, want %t", cfg.GraphQLIntrospection, tc.want)
			}
		})
	}
}

// Certificate and key flags come in pairs: one without the other is refused
// before anything starts.
func TestCertificateFlagsGoInPairs(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "server.crt"},
		{"--tls-key", "server.key"},
		{"--profile-signing-cert", "signing.crt"},
		{"--profile-signing-key", "signing.key"},
	} {
		var cfg Config
		fs := newFlagSet("serve", io.Discard)
		bindServe(fs, &cfg)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "go together") {
			t.Errorf("%v: %v, want the pair refused", args, err)
		}
	}
}

// The inventory job's cadence is a flag: 0 turns it off, anything under a
// minute is refused.
func TestInventoryCheckIntervalFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{{nil, true}, {[]string{"--inventory-check-interval", "0"}, true}, {[]string{"--inventory-check-interval", "5m"}, true},
		{[]string{"--inventory-check-interval", "10s"}, false}} {
		var cfg Config
		fs := newFlagSet("serve", io.Discard)
		bindServe(fs, &cfg)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.validate(); (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}
