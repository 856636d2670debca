package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/pgtest"
)

// smallReferencingColumns are foreign keys left without an index, each on a
// table that stays small (a handful of rows per admin action, or cleaned
// daily), so the scan a delete on the referenced side makes is cheap.
var smallReferencingColumns = map[string]string{
	"mdm_enrollments.blueprint_id":           "one row per enrollment",
	"dep_profiles.blueprint_id":              "one row per DEP profile",
	"dep_virtual_servers.default_profile_id": "one row per DEP virtual server",
	"mdm_scep_challenges.enrollment_id":      "expired challenges are deleted daily",
}

// A delete on the referenced side of a foreign key looks up the rows that
// reference it: without an index on the referencing column, deleting one
// device read every SCEP certificate ever issued.
func TestForeignKeysHaveIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	rows, err := s.Pool().Query(ctx, `SELECT c.conrelid::regclass::text || '.' || a.attname
		FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
			AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	unindexed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range unindexed {
		if smallReferencingColumns[col] == "" {
			t.Errorf("foreign key column %s has no index", col)
		}
	}

	// The partial indexes (only rows that reference anything) serve the
	// lookups the foreign keys' actions make, as PostgreSQL plans them: a
	// generic plan with the referenced id as a parameter.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, sql := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL plan_cache_mode = force_generic_plan",
		"PREPARE renewing(bigint) AS UPDATE ONLY mdm_scep_certificates SET renews_device_id = NULL WHERE $1 = renews_device_id",
		"PREPARE enrolled(bigint) AS UPDATE ONLY enrolled_devices SET mdm_enrollment_id = NULL WHERE $1 = mdm_enrollment_id"} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for stmt, index := range map[string]string{"renewing": "mdm_scep_certificates_renews_device", "enrolled": "enrolled_devices_mdm_enrollment"} {
		var plan []string
		rows, err := tx.Query(ctx, "EXPLAIN EXECUTE "+stmt+"(1)")
		if err == nil {
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(plan, "\n"), index) {
			t.Errorf("%s is not planned with %s:\n%s", stmt, index, strings.Join(plan, "\n"))
		}
	}
}
