package service_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// addModelDevice enrolls a device as DeviceInformation leaves it: model,
// platform, OS version and build, in a blueprint.
func addModelDevice(t *testing.T, s *store.Store, blueprint int64, model, platform, osVersion string, ddm bool) int64 {
	t.Helper()
	var id int64
	must(t, s.Pool().QueryRow(context.Background(), `INSERT INTO enrolled_devices (udid, model, platform, os_version,
		blueprint_id, declarative_management) VALUES (gen_random_uuid()::text, $1, $2, $3, $4, $5) RETURNING id`,
		model, platform, osVersion, blueprint, ddm).Scan(&id))
	return id
}

// newCatalogService is a service whose catalog is swupdatesim's sample,
// with a blueprint of that name.
func newCatalogService(t *testing.T, blueprint string) (*service.Service, *store.Store, store.Blueprint) {
	t.Helper()
	ctx := context.Background()
	svc, s := newService(t)
	catalog := swupdatesim.Sample(time.Now())
	_, err := svc.ReplaceSoftwareUpdateCatalog(ctx, "sync", &catalog)
	must(t, err)
	bp, err := svc.CreateBlueprint(ctx, "setup", blueprint)
	must(t, err)
	return svc, s, bp
}

func TestSetSoftwareUpdateEnforcementRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Phones")
	must(t, err)
	seven, negative := 7, -1
	future := time.Now().UTC().AddDate(0, 1, 0).Format(store.LocalDateTimeLayout)
	for _, tc := range []struct {
		name string
		in   service.EnforcementInput
		want service.Kind
	}{
		{"unknown platform", service.EnforcementInput{Platform: "Android", LatestMinusDays: &seven}, service.Invalid},
		{"not a version", service.EnforcementInput{Platform: "iOS", OSVersion: "latest", TargetLocalDateTime: future}, service.Invalid},
		{"date in the past", service.EnforcementInput{Platform: "iOS", OSVersion: "18.2", TargetLocalDateTime: "2020-01-01T09:00:00"}, service.Invalid},
		{"not a date", service.EnforcementInput{Platform: "iOS", OSVersion: "18.2", TargetLocalDateTime: "tomorrow"}, service.Invalid},
		{"zone given", service.EnforcementInput{Platform: "iOS", OSVersion: "18.2", TargetLocalDateTime: future + "Z"}, service.Invalid},
		{"both kinds", service.EnforcementInput{Platform: "iOS", OSVersion: "18.2", TargetLocalDateTime: future, LatestMinusDays: &seven}, service.Invalid},
		{"neither kind", service.EnforcementInput{Platform: "iOS"}, service.Invalid},
		{"negative days", service.EnforcementInput{Platform: "iOS", LatestMinusDays: &negative}, service.Invalid},
		{"bad build", service.EnforcementInput{Platform: "iOS", OSVersion: "18.2", BuildVersion: "22 C", TargetLocalDateTime: future}, service.Invalid},
		{"bad local time", service.EnforcementInput{Platform: "iOS", LatestMinusDays: &seven, LocalTime: "25:00"}, service.Invalid},
		{"http details", service.EnforcementInput{Platform: "iOS", LatestMinusDays: &seven, DetailsURL: "http://x"}, service.Invalid},
		{"no blueprint", service.EnforcementInput{Platform: "iOS", LatestMinusDays: &seven}, service.NotFound},
	} {
		id := bp.ID
		if tc.want == service.NotFound {
			id = bp.ID + 1000
		}
		if _, err := svc.SetSoftwareUpdateEnforcement(ctx, "t", id, tc.in); !service.IsKind(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if list, err := s.SoftwareUpdateEnforcements(ctx, bp.ID); err != nil || len(list) != 0 {
		t.Errorf("refusals stored %v, %v", list, err)
	}
	if got := auditActions(t, s); !slices.Equal(got, []string{"blueprint.create"}) {
		t.Errorf("audit %v", got)
	}
}

// "Latest minus 7 days" sends devices without declarative management
// ScheduleOSUpdate for the newest release of their model at least 7 days
// old, once; devices with declarative management get the declaration.
func TestLatestMinusDaysEnforcement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s, bp := newCatalogService(t, "Phones")
	old := addModelDevice(t, s, bp.ID, "iPhone14,2", "iOS", "17.6", false)
	current := addModelDevice(t, s, bp.ID, "iPhone14,2", "iOS", "18.2", false)
	ddm := addModelDevice(t, s, bp.ID, "iPhone15,2", "iOS", "17.6", true)
	unknown := addModelDevice(t, s, bp.ID, "iPhone99,9", "iOS", "17.6", false)
	seven := 7
	e, err := svc.SetSoftwareUpdateEnforcement(ctx, "alice", bp.ID, service.EnforcementInput{Platform: "iOS", LatestMinusDays: &seven})
	must(t, err)

	run, err := svc.EnforceSoftwareUpdate(ctx, "job", bp.ID, "iOS", time.Now())
	must(t, err)
	if run != (service.EnforcementRun{Scheduled: 1, UpToDate: 1, AwaitingDDM: 1, NoTarget: 1}) {
		t.Fatalf("run %+v", run)
	}
	var body string
	must(t, s.Pool().QueryRow(ctx, `SELECT convert_from(command, 'UTF8') FROM mdm_device_commands
		WHERE device_id = $1 AND request_type = 'ScheduleOSUpdate'`, old).Scan(&body))
	// 18.2.1 is 3 days old: the newest release at least 7 days old is 18.2.
	if !strings.Contains(body, "<string>18.2</string>") || !strings.Contains(body, "InstallASAP") {
		t.Errorf("command %s", body)
	}
	var others int
	// (Every device of the blueprint is told its declarations changed:
	// DeclarativeManagement commands are not deliveries of the update.)
	must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE device_id = ANY($1)
		AND request_type <> 'DeclarativeManagement'`, []int64{current, ddm, unknown}).Scan(&others))
	if others != 0 {
		t.Errorf("%d commands to devices that needed none", others)
	}
	again, err := svc.EnforceSoftwareUpdate(ctx, "job", bp.ID, "iOS", time.Now())
	must(t, err)
	if again.Scheduled != 0 || again.Pending != 1 {
		t.Errorf("second run %+v", again)
	}

	target, ok, err := svc.EnforcementTarget(ctx, e, []string{"iPhone15,2"}, time.Now())
	must(t, err)
	d, err := swupdate.EnforcementDeclaration("orchard.softwareupdate.enforcement", target)
	must(t, err)
	if !ok || d.Payload["TargetOSVersion"] != "18.2" || d.Payload["TargetBuildVersion"] != "22C152" {
		t.Errorf("declaration for the DDM device %+v", d)
	}
}

func TestVersionBefore(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"18.2", "18.2.1", true}, {"18.9", "18.10", true}, {"18.10", "18.9", false}, {"18.2", "18.2", false},
		{"18.2.0", "18.2", false}, {"", "18.2", true}, {"garbage", "1.0", true}, {"19.0", "18.2.1", false},
	} {
		if got := service.VersionBefore(tc.a, tc.b); got != tc.want {
			t.Errorf("VersionBefore(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// A Mac assigned to a blueprint gets what the blueprint's devices got before
// it: a profile reconcile of the Mac and a run of the blueprint's macOS
// enforcement, not of its iOS one.
func TestAssignmentRunsTheBlueprintsWorkForTheDevicesThatMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Fleet")
	must(t, err)
	seven := 7
	for _, platform := range []string{"macOS", "iOS"} {
		_, err := svc.SetSoftwareUpdateEnforcement(ctx, "t", bp.ID, service.EnforcementInput{Platform: platform, LatestMinusDays: &seven})
		must(t, err)
	}
	mac := enrollMac(t, svc, s, "UDID-JOINING", true, false, nil)
	jobs := func(kind, args string) int {
		var n int
		must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND args @> $2::jsonb`, kind, args).Scan(&n))
		return n
	}
	macRuns, iosRuns := jobs("software_update_enforce", `{"platform": "macOS"}`), jobs("software_update_enforce", `{"platform": "iOS"}`)
	must(t, svc.AssignBlueprint(ctx, "ada", bp.ID, []int64{mac.id}))
	if n := jobs("profile_reconcile", fmt.Sprintf(`{"device_ids": [%d]}`, mac.id)); n != 1 {
		t.Errorf("%d profile reconciles of the Mac, want 1", n)
	}
	if n := jobs("software_update_enforce", `{"platform": "macOS"}`) - macRuns; n != 1 {
		t.Errorf("%d macOS enforcement runs queued by the assignment, want 1", n)
	}
	if n := jobs("software_update_enforce", `{"platform": "iOS"}`) - iosRuns; n != 0 {
		t.Errorf("%d iOS enforcement runs queued by a Mac's assignment, want 0", n)
	}
}

// An Apple-silicon Mac is in Apple's catalog by its board id, which only
// DeviceInformation's SoftwareUpdateDeviceID tells: once the Mac answers
// it, the Mac has a release to enforce and releases listed as available;
// its model (Mac14,5) matches none.
func TestAMacIsMatchedByItsSoftwareUpdateDeviceID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s, bp := newCatalogService(t, "Macs")
	mac := enrollMac(t, svc, s, "UDID-BOARD-ID", true, false, &bp.ID)
	zero := 0
	_, err := svc.SetSoftwareUpdateEnforcement(ctx, "alice", bp.ID, service.EnforcementInput{Platform: "macOS", LatestMinusDays: &zero})
	must(t, err)
	available := func() []string {
		list, _, err := s.ListSoftwareUpdates(ctx, store.SoftwareUpdateFilter{AvailableForDeviceID: mac.id}, store.Page{First: 50})
		must(t, err)
		var versions []string
		for _, u := range list {
			versions = append(versions, u.ProductVersion)
		}
		return versions
	}
	information := map[string]any{"Model": "Mac14,5", "ProductName": "Mac14,5", "OSVersion": "14.6",
		"BuildVersion": "23G80", "SerialNumber": "C02BOARD", "SoftwareUpdateDeviceID": "J314sAP"}
	mac.run(func(requestType string) (string, map[string]any) {
		if requestType == "DeviceInformation" {
			return "Acknowledged", map[string]any{"QueryResponses": information}
		}
		return "Acknowledged", map[string]any{}
	})
	d, err := s.Device(ctx, mac.id)
	must(t, err)
	if d.SoftwareUpdateDeviceID != "J314sAP" || d.ProductName != "Mac14,5" {
		t.Fatalf("stored software update device id %q, product name %q", d.SoftwareUpdateDeviceID, d.ProductName)
	}
	if got := available(); !slices.Contains(got, "15.2") || !slices.Contains(got, "14.7.2") {
		t.Errorf("releases available to the Mac: %v, want 15.2 and 14.7.2", got)
	}
	run, err := svc.EnforceSoftwareUpdate(ctx, "job", bp.ID, "macOS", time.Now())
	must(t, err)
	if run.Scheduled != 1 || run.NoTarget != 0 {
		t.Fatalf("enforcement run %+v, want the Mac scheduled", run)
	}

	_, err = s.Pool().Exec(ctx, "UPDATE enrolled_devices SET software_update_device_id = '' WHERE id = $1", mac.id)
	must(t, err)
	if got := available(); len(got) != 0 {
		t.Errorf("by its model alone the Mac matched %v", got)
	}
}
