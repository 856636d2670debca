package store_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestListDevicesWithReadsWhatTheLoadersRead: the blueprint, user channels,
// software update status and declaration statuses a page reads with its
// devices are those the GraphQL loaders would read one statement later,
// field for field.
func TestListDevicesWithReadsWhatTheLoadersRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	bp, err := s.CreateBlueprint(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	insertDevices(t, s, 4, "macOS")
	execSQL(t, s, `UPDATE enrolled_devices SET blueprint_id = $1 WHERE id % 2 = 0`, bp.ID)
	execSQL(t, s, `INSERT INTO mdm_device_users (device_id, user_id, short_name, long_name, last_seen_at)
		SELECT d.id, 'U' || d.id || '-' || n, 'user' || n, 'User ' || n, CASE WHEN n = 1 THEN now() END
		FROM enrolled_devices d, generate_series(1, 2) n WHERE d.id > 1`)
	execSQL(t, s, `INSERT INTO device_software_update_status (device_id, install_state, pending_os_version,
		pending_build_version, failure_count, failure_reason, failed_at)
		SELECT id, 'failed', '15.3', '24D60', 2, 'no space', now() - interval '1 hour' FROM enrolled_devices WHERE id % 2 = 1`)
	execSQL(t, s, `INSERT INTO device_declaration_status (device_id, kind, identifier, server_token, active, valid, reasons)
		SELECT d.id, k, 'orchard.' || k, 'token-' || d.id, k <> 'asset', 'invalid',
			'[{"code": "Error.ConfigurationCannotBeApplied", "details": {"n": 1}}]'
		FROM enrolled_devices d, unnest(ARRAY['activation', 'configuration', 'asset']) k WHERE d.id < 3`)

	listed, _, err := s.ListDevicesWith(ctx, store.DeviceFilter{}, store.Page{First: 10},
		store.DeviceIncludes{Blueprint: true, Users: true, SoftwareUpdateStatus: true, DeclarationStatus: true})
	if err != nil || len(listed) != 4 {
		t.Fatalf("listed %d devices: %v", len(listed), err)
	}
	for _, d := range listed {
		if want := loadedBlueprint(t, s, d.BlueprintID); !reflect.DeepEqual(d.Blueprint, want) {
			t.Errorf("device %d: blueprint %+v, the loader reads %+v", d.ID, d.Blueprint, want)
		}
		users, err := s.DeviceUsers(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.Users, users) {
			t.Errorf("device %d: users %+v, the loader reads %+v", d.ID, d.Users, users)
		}
		statuses, err := s.SoftwareUpdateStatusesByDeviceIDs(ctx, []int64{d.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.SoftwareUpdateStatus, statuses[0]) {
			t.Errorf("device %d: software update status %+v, the loader reads %+v", d.ID, d.SoftwareUpdateStatus, statuses[0])
		}
		declarations, err := s.DeclarationStatusesByDeviceIDs(ctx, []int64{d.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.DeclarationStatus, declarations[0]) {
			t.Errorf("device %d: declaration statuses %+v, the loader reads %+v", d.ID, d.DeclarationStatus, declarations[0])
		}
	}
	if len(listed[0].DeclarationStatus) != 3 || listed[3].DeclarationStatus != nil {
		t.Errorf("declaration statuses %+v, %+v: want 3 for the first device, none for the last", listed[0].DeclarationStatus, listed[3].DeclarationStatus)
	}
	if listed[0].SoftwareUpdateStatus == nil || listed[1].SoftwareUpdateStatus != nil {
		t.Errorf("software update statuses %+v, %+v: want the first device's only", listed[0].SoftwareUpdateStatus, listed[1].SoftwareUpdateStatus)
	}
	if len(listed[1].Users) != 2 || listed[1].Blueprint == nil {
		t.Errorf("device %d read without its blueprint or its 2 users: %+v", listed[1].ID, listed[1])
	}
}

func loadedBlueprint(t *testing.T, s *store.Store, id *int64) *store.Blueprint {
	t.Helper()
	if id == nil {
		return nil
	}
	found, err := s.BlueprintsByIDs(context.Background(), []int64{*id})
	if err != nil {
		t.Fatal(err)
	}
	return found[0]
}

func execSQL(t *testing.T, s *store.Store, sql string, args ...any) {
	t.Helper()
	if _, err := s.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// TestCountDevicesIsExactUpToTheBound: below the bound the count is exact;
// past it, the planner's estimate, which after ANALYZE is close and never
// at or below the bound.
func TestCountDevicesIsExactUpToTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	const many = store.ExactCountBound + 500
	insertDevices(t, s, many, "macOS")
	insertDevices(t, s, 7, "iOS")
	execSQL(t, s, "ANALYZE enrolled_devices")

	if n, err := s.CountDevices(ctx, store.DeviceFilter{Platform: "iOS"}); n != 7 || err != nil {
		t.Errorf("iOS devices counted %d (%v), want exactly 7", n, err)
	}
	n, err := s.CountDevices(ctx, store.DeviceFilter{})
	checkEstimate(t, "devices", n, err, many+7)
}

// TestDeviceFiltersUseTheirIndexes plans each filter's page and count
// statements (as the store sends them) with sequential scans disabled: the
// planner then falls back to one only where no index can answer. At this
// scale it rightly prefers walking the primary key in page order to the
// search index, so the filter is also planned alone, where only its own
// index can help. The benchmark checks the real plans at a million devices.
func TestDeviceFiltersUseTheirIndexes(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	insertDevices(t, s, 2000, "macOS")
	insertDevices(t, s, 3, "tvOS")
	execSQL(t, s, "UPDATE enrolled_devices SET blocked_at = now(), model = 'Macmini9,1' WHERE id % 500 = 0")
	execSQL(t, s, "ANALYZE enrolled_devices")
	yes, no := true, false
	for _, tc := range []struct {
		name   string
		filter store.DeviceFilter
		index  string // "": the filter matches nearly every device, read in id order
	}{
		{"serial", store.DeviceFilter{SerialNumber: "SERmacOS1234"}, "enrolled_devices_serial_number"},
		{"udid", store.DeviceFilter{UDID: "UDID-macOS-1234"}, "enrolled_devices_udid_key"},
		{"platform", store.DeviceFilter{Platform: "tvOS"}, "enrolled_devices_platform"},
		{"blocked", store.DeviceFilter{Blocked: &yes}, "enrolled_devices_blocked"},
		{"not blocked", store.DeviceFilter{Blocked: &no}, ""},
		{"search", store.DeviceFilter{Search: "mini9"}, "enrolled_devices_search"},
		{"search with wildcards", store.DeviceFilter{Search: "%_mini9_%"}, "enrolled_devices_search"},
	} {
		page, count, alone := filterPlans(t, s, tc.filter)
		for _, plan := range []string{page, count} {
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s: a statement reads the table:\n%s", tc.name, plan)
			}
		}
		if tc.index != "" && !strings.Contains(alone, tc.index) {
			t.Errorf("%s: the filter alone does not use %s:\n%s", tc.name, tc.index, alone)
		}
	}
}

// filterPlans plans, with sequential scans disabled, the statements a page
// of devices and its count send for f (for the count, the query it counts),
// and f's condition alone.
func filterPlans(t *testing.T, s *store.Store, f store.DeviceFilter) (page, count, alone string) {
	t.Helper()
	ctx, log := pgtest.WithStatementLog(context.Background())
	if _, _, err := s.ListDevicesWith(ctx, f, store.Page{First: 100}, store.DeviceIncludes{Blueprint: true, Users: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountDevices(ctx, f); err != nil {
		t.Fatal(err)
	}
	sent := log.Statements()
	if len(sent) != 2 {
		t.Fatalf("a page and its count sent %d statements, want 2", len(sent))
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// SET LOCAL ends with the transaction, before the connection is reused.
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	explain := func(st pgtest.Statement) string {
		plan, err := pgtest.Explain(ctx, tx, st)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	page, count = explain(sent[0]), explain(sent[1])
	// The filter alone: the counted query without its order, counted
	// with no bound that matters.
	counted := sent[1].Args
	alone = explain(pgtest.Statement{SQL: sent[1].SQL, Args: []any{strings.TrimSuffix(counted[0].(string), " ORDER BY id"), counted[1], 1 << 40}})
	return page, count, alone
}
