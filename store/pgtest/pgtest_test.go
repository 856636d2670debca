package pgtest

import (
	"context"
	"testing"
)

func TestEachTestGetsItsOwnMigratedDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if _, err := a.Pool().Exec(ctx, "INSERT INTO blueprints (name) VALUES ('only in a')"); err != nil {
		t.Fatal(err)
	}
	var inA, inB int
	if err := a.Pool().QueryRow(ctx, "SELECT count(*) FROM blueprints").Scan(&inA); err != nil {
		t.Fatal(err)
	}
	if err := b.Pool().QueryRow(ctx, "SELECT count(*) FROM blueprints").Scan(&inB); err != nil {
		t.Fatal(err)
	}
	if inA != 1 || inB != 0 {
		t.Fatalf("databases are not isolated: a has %d rows, b has %d", inA, inB)
	}
	var riverTables int
	if err := b.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'river_job'").Scan(&riverTables); err != nil || riverTables != 1 {
		t.Fatalf("River's migrations are missing from the template (%d, %v)", riverTables, err)
	}
}

func TestSwitchDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5/postgres?sslmode=disable": "postgres://u@h:5/other?sslmode=disable",
		"host=/tmp/x user=orchard dbname=postgres":  "host=/tmp/x user=orchard dbname=postgres dbname=other",
	} {
		got, err := switchDatabase(in, "other")
		if err != nil || got != want {
			t.Errorf("switchDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
