package jobs_test

import (
	"context"
	"testing"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// enrollDevices adds n enrolled devices with serial numbers.
func enrollDevices(t *testing.T, s *store.Store, n int) []int64 {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `INSERT INTO enrolled_devices (udid, serial_number, platform)
		SELECT 'UDID-' || i, 'C02SN' || lpad(i::text, 6, '0'), 'iOS' FROM generate_series(1, $1) i RETURNING id`, n)
	check(t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		check(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	check(t, rows.Err())
	return ids
}

// Acceptance 3: assigning an asset to 2,500 devices makes three associate
// calls (Apple's 1,000 serial numbers a call), waits for the events, moves
// the counts and queues InstallApplication for every device; unassigning
// gives the licences back.
func TestAssignAssetTo2500Devices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newVPPEnv(t, 3)
	e.vsim.PendingPolls = 2
	e.vsim.SetTotal(e.loc, "400000000", 3000)
	locationOutput(t, e.syncLocation())
	assets, err := e.store.ListLocationAssets(ctx, store.LocationAssetFilter{LocationID: e.id, AdamID: "400000000"})
	check(t, err)
	devices := enrollDevices(t, e.store, 2500)

	if _, err := e.svc.AssignAsset(ctx, "t", assets[0].ID, append(devices, 999999), true); !service.IsKind(err, service.NotFound) {
		t.Errorf("unknown device: %v", err)
	}
	small, _ := e.store.ListLocationAssets(ctx, store.LocationAssetFilter{LocationID: e.id, AdamID: "400000001"})
	if _, err := e.svc.AssignAsset(ctx, "t", small[0].ID, devices, true); !service.IsKind(err, service.Invalid) {
		t.Errorf("more devices than licences: %v", err)
	}
	job, err := e.svc.AssignAsset(ctx, "alice", assets[0].ID, devices, true)
	check(t, err)
	done := e.wait(job.ID, rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateRetryable)
	if done.State != rivertype.JobStateCompleted {
		t.Fatalf("assign job %s: %v", done.State, done.Errors)
	}
	if n := e.vsim.Calls("/assets/associate"); n != 3 {
		t.Errorf("%d associate calls, want 3", n)
	}
	if n := len(e.vsim.Assigned(e.loc, "400000000")); n != 2500 {
		t.Errorf("Apple holds %d assignments", n)
	}
	a, err := e.store.LocationAsset(ctx, assets[0].ID)
	check(t, err)
	if a.AssignedCount != 2500 || a.AvailableCount != 500 || a.TotalCount != 3000 {
		t.Errorf("counts after assigning: %+v", a)
	}
	var installs int
	check(t, e.store.Pool().QueryRow(ctx, `SELECT count(DISTINCT device_id) FROM mdm_device_commands
		WHERE request_type = 'InstallApplication' AND device_id = ANY($1)`, devices).Scan(&installs))
	if installs != 2500 {
		t.Errorf("InstallApplication queued for %d devices", installs)
	}

	job, err = e.svc.AssignAsset(ctx, "alice", assets[0].ID, devices[:1500], false)
	check(t, err)
	if done := e.wait(job.ID, rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateRetryable); done.State != rivertype.JobStateCompleted {
		t.Fatalf("unassign job %s: %v", done.State, done.Errors)
	}
	a, _ = e.store.LocationAsset(ctx, assets[0].ID)
	if a.AssignedCount != 1000 || a.AvailableCount != 2000 || e.vsim.Calls("/assets/disassociate") != 2 {
		t.Errorf("after unassigning 1,500: %+v, %d calls", a, e.vsim.Calls("/assets/disassociate"))
	}
	// A sync agrees with what the operations recorded.
	locationOutput(t, e.syncLocation())
	if a, _ = e.store.LocationAsset(ctx, assets[0].ID); a.AssignedCount != 1000 {
		t.Errorf("after a sync: %+v", a)
	}
}
