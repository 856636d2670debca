package store_test

import (
	"context"
	"testing"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// checkEstimate holds a count past ExactCountBound to the planner's
// estimate after ANALYZE: within 5% of the rows there are, and never at or
// below the bound, where a count would read as exact.
func checkEstimate(t *testing.T, what string, got int, err error, actual int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got <= store.ExactCountBound || got < actual*95/100 || got > actual*105/100 {
		t.Errorf("%d %s estimated at %d, want within 5%% and above %d", actual, what, got, store.ExactCountBound)
	}
}

// The audit trail only grows: its count is exact up to the bound and the
// planner's estimate past it, never a walk over every event.
func TestCountAuditEventsIsExactUpToTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	insertAuditEvents := func(n int) {
		execSQL(t, s, `INSERT INTO audit_events (actor, action, object_type, object_id)
			SELECT 'test', 'test.event', 'device', i::text FROM generate_series(1, $1) i`, n)
	}
	insertAuditEvents(7)
	if n, err := s.CountAuditEvents(ctx); n != 7 || err != nil {
		t.Errorf("counted %d audit events (%v), want exactly 7", n, err)
	}
	const many = store.ExactCountBound + 500
	insertAuditEvents(many - 7)
	execSQL(t, s, "ANALYZE audit_events")
	n, err := s.CountAuditEvents(ctx)
	checkEstimate(t, "audit events", n, err, many)
}

// Jobs count exactly up to the bound whichever filter narrows them, and by
// the estimate past it.
func TestCountJobsIsExactUpToTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	const many = store.ExactCountBound + 500
	insertJobs := func(kind, state string, n int) {
		execSQL(t, s, `INSERT INTO river_job (kind, args, max_attempts, state, finalized_at)
			SELECT $1, '{}', 1, $2::river_job_state, CASE WHEN $2 = 'completed' THEN now() END
			FROM generate_series(1, $3)`, kind, state, n)
	}
	insertJobs("apns_push", "completed", many)
	insertJobs("dep_sync", "completed", 3)
	insertJobs("dep_sync", "available", 4)
	execSQL(t, s, "ANALYZE river_job")

	for _, c := range []struct {
		kind, state string
		want        int
	}{{"dep_sync", "", 7}, {"dep_sync", "available", 4}, {"", "available", 4}, {"nothing_of_this_kind", "", 0}} {
		if n, err := s.CountJobs(ctx, c.kind, c.state); n != c.want || err != nil {
			t.Errorf("jobs of kind %q in state %q counted %d (%v), want exactly %d", c.kind, c.state, n, err, c.want)
		}
	}
	n, err := s.CountJobs(ctx, "apns_push", "completed")
	checkEstimate(t, "completed push jobs", n, err, many)
	n, err = s.CountJobs(ctx, "", "")
	checkEstimate(t, "jobs", n, err, many+7)
}

// A device's commands count exactly up to the bound, by status too, and by
// the estimate past it; another device's commands never count.
func TestCountDeviceCommandsIsExactUpToTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	insertDevices(t, s, 2, "macOS")
	var busy, quiet int64
	if err := s.Pool().QueryRow(ctx, "SELECT min(id), max(id) FROM enrolled_devices").Scan(&busy, &quiet); err != nil {
		t.Fatal(err)
	}
	const many = store.ExactCountBound + 500
	insertCommands := func(device int64, status string, n int) {
		execSQL(t, s, `INSERT INTO mdm_device_commands (uuid, device_id, request_type, command, status)
			SELECT gen_random_uuid()::text, $1, 'DeviceInformation', '<plist/>', $2 FROM generate_series(1, $3)`,
			device, status, n)
	}
	insertCommands(busy, "Acknowledged", many)
	insertCommands(quiet, "Acknowledged", 5)
	insertCommands(quiet, "Queued", 2)
	execSQL(t, s, "ANALYZE mdm_device_commands")

	for _, c := range []struct {
		status string
		want   int
	}{{"", 7}, {"Queued", 2}, {"Error", 0}} {
		if n, err := s.CountDeviceCommands(ctx, quiet, c.status); n != c.want || err != nil {
			t.Errorf("commands in status %q counted %d (%v), want exactly %d", c.status, n, err, c.want)
		}
	}
	n, err := s.CountDeviceCommands(ctx, busy, "")
	checkEstimate(t, "commands", n, err, many)
}
