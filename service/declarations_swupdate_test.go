package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// A Mac that speaks declarative management, on a blueprint enforcing a macOS
// release, gets the software update enforcement declaration, activated with
// the blueprint's others; the check-in marks it as declarative.
func TestDeclarativeDeviceGetsTheSoftwareUpdateDeclaration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	bp, err := svc.CreateBlueprint(ctx, "t", "Macs")
	must(t, err)
	due := time.Now().AddDate(0, 1, 0).UTC().Format("2006-01-02T15:04:05")
	_, err = svc.SetSoftwareUpdateEnforcement(ctx, "t", bp.ID, service.EnforcementInput{Platform: "macOS",
		OSVersion: "15.2", BuildVersion: "24C101", TargetLocalDateTime: due})
	must(t, err)
	ch := mdmproto.Channel{Enrollment: mdmproto.Enrollment{UDID: "0000FE00-AAAA-BBBB-CCCC-DDDDEEEEFFFF"}, CertHash: []byte("ddm-mac"),
		CertNotAfter: time.Now().AddDate(1, 0, 0)}
	must(t, svc.Authenticate(ctx, ch, mdmproto.DeviceFacts{}))
	must(t, svc.TokenUpdate(ctx, ch, mdmproto.TokenUpdateInfo{Token: []byte("t"), PushMagic: "m"}))
	_, err = s.Pool().Exec(ctx, `UPDATE enrolled_devices SET platform = 'macOS', model = 'Mac14,3', blueprint_id = $2
		WHERE udid = $1`, ch.UDID, bp.ID)
	must(t, err)

	items, err := svc.DeclarativeManagement(ctx, ch, "declaration-items", nil)
	must(t, err)
	if !strings.Contains(string(items), "orchard.swupdate.macOS") {
		t.Fatalf("declaration items lack the software update: %s", items)
	}
	raw, err := svc.DeclarativeManagement(ctx, ch, "declaration/configuration/orchard.swupdate.macOS", nil)
	must(t, err)
	var decl struct {
		Type    string
		Payload map[string]any
	}
	must(t, json.Unmarshal(raw, &decl))
	if decl.Type != "com.apple.configuration.softwareupdate.enforcement.specific" || decl.Payload["TargetOSVersion"] != "15.2" ||
		decl.Payload["TargetBuildVersion"] != "24C101" || decl.Payload["TargetLocalDateTime"] != due {
		t.Fatalf("software update declaration = %s", raw)
	}
	activation, err := svc.DeclarativeManagement(ctx, ch, "declaration/activation/orchard.activation.blueprint", nil)
	must(t, err)
	if !strings.Contains(string(activation), "orchard.swupdate.macOS") {
		t.Fatalf("the activation does not activate it: %s", activation)
	}
	devices, _, err := s.ListDevices(ctx, store.DeviceFilter{UDID: ch.UDID}, store.Page{First: 1})
	must(t, err)
	if len(devices) != 1 || !devices[0].DeclarativeManagement {
		t.Fatalf("device after a DeclarativeManagement check-in: %+v", devices)
	}
}

// A device that speaks declarative management gets its blueprint's profiles
// as legacy-profile declarations: the reconcile sends it no InstallProfile.
func TestDeclarativeDevicesGetNoInstallProfile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Macs")
	must(t, err)
	devicesOnBlueprint(t, s, bp.ID, 3)
	_, err = s.Pool().Exec(ctx, `UPDATE enrolled_devices SET declarative_management = true
		WHERE id = (SELECT min(id) FROM enrolled_devices)`)
	must(t, err)
	p, err := svc.UploadProfile(ctx, "setup", testProfile("com.example.dock", "1"))
	must(t, err)
	_, err = svc.SetBlueprintProfiles(ctx, "setup", bp.ID, []int64{p.ID})
	must(t, err)
	got, err := svc.ReconcileProfiles(ctx, "job", store.ProfileScope{BlueprintID: &bp.ID})
	if err != nil || got.Installs != 2 {
		t.Fatalf("reconcile = %+v, %v; want the 2 devices without declarative management", got, err)
	}
}

// A blueprint's change tells its devices to sync their declarations, but not
// those known to run an OS older than declarative management (they would
// answer with an error); a device whose OS orchard does not know yet is told.
func TestDeclarativeSyncSkipsDevicesTooOldForIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Mixed fleet")
	must(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO enrolled_devices (udid, platform, os_version, blueprint_id)
		VALUES ('OLD-MAC', 'macOS', '12.7.6', $1), ('NEW-MAC', 'macOS', '13.0', $1), ('OLD-IPHONE', 'iOS', '14.8.1', $1),
			('NEW-IPAD', 'iPadOS', '17.5', $1), ('UNKNOWN', '', '', $1), ('ODD-VERSION', 'iOS', 'beta', $1)`, bp.ID)
	must(t, err)
	p, err := svc.UploadProfile(ctx, "setup", testProfile("com.example.dock", "1"))
	must(t, err)
	_, err = svc.SetBlueprintProfiles(ctx, "setup", bp.ID, []int64{p.ID})
	must(t, err)
	rows, err := s.Pool().Query(ctx, `SELECT d.udid FROM mdm_device_commands c JOIN enrolled_devices d ON d.id = c.device_id
		WHERE c.request_type = 'DeclarativeManagement' ORDER BY d.udid`)
	must(t, err)
	told, err := pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	if want := []string{"NEW-IPAD", "NEW-MAC", "ODD-VERSION", "UNKNOWN"}; !slices.Equal(told, want) {
		t.Fatalf("DeclarativeManagement sent to %v, want %v", told, want)
	}

	// An administrator's sync (after an upgrade) tells the same devices again.
	if n, err := svc.SyncBlueprintDeclarations(ctx, "ada", bp.ID); err != nil || n != 4 {
		t.Fatalf("sync told %d devices (%v), want 4", n, err)
	}
	var commands int
	must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE request_type = 'DeclarativeManagement'`).Scan(&commands))
	if commands != 8 || !slices.Contains(auditActions(t, s), "blueprint.sync_declarations") {
		t.Fatalf("%d DeclarativeManagement commands after the sync, want 8; audit %v", commands, auditActions(t, s))
	}
	if _, err := svc.SyncBlueprintDeclarations(ctx, "ada", bp.ID+1000); !service.IsKind(err, service.NotFound) {
		t.Fatalf("sync of an unknown blueprint: %v", err)
	}
}

// A status report's OS items become the device's facts and its
// softwareupdate items its update status; a later report carrying one item
// changes that item only, and a malformed one changes nothing.
func TestStatusReportsUpdateTheDevicesOSAndUpdateStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	ch := mdmproto.Channel{Enrollment: mdmproto.Enrollment{UDID: "0000FE00-AAAA-BBBB-CCCC-000000000042"}, CertHash: []byte("ddm-status"),
		CertNotAfter: time.Now().AddDate(1, 0, 0)}
	must(t, svc.Authenticate(ctx, ch, mdmproto.DeviceFacts{}))
	must(t, svc.TokenUpdate(ctx, ch, mdmproto.TokenUpdateInfo{Token: []byte("t"), PushMagic: "m"}))
	id, err := s.DeviceIDByUDID(ctx, ch.UDID)
	must(t, err)
	report := func(items string) error {
		_, err := svc.DeclarativeManagement(ctx, ch, "status", []byte(`{"StatusItems": `+items+`}`))
		return err
	}
	must(t, report(`{"device": {"operating-system": {"version": "15.2", "build-version": "24C101"}},
		"softwareupdate": {"device-id": "J473AP", "install-state": "downloading",
			"pending-version": {"os-version": "15.3", "build-version": "24D60"}, "failure-reason": {"count": 0}}}`))
	must(t, report(`{"softwareupdate": {"install-state": "failed",
		"failure-reason": {"count": 1, "reason": "no space", "timestamp": "2026-12-01T10:00:00Z"}}}`))
	if err := report(`{"device": {"operating-system": {"version": "99\u0000"}}}`); err == nil {
		t.Fatal("a report with a control character was accepted")
	}
	d, err := s.Device(ctx, id)
	must(t, err)
	su, err := s.DeviceSoftwareUpdateStatus(ctx, id)
	must(t, err)
	if d.OSVersion != "15.2" || d.BuildVersion != "24C101" || d.SoftwareUpdateDeviceID != "J473AP" {
		t.Errorf("device facts %q %q %q", d.OSVersion, d.BuildVersion, d.SoftwareUpdateDeviceID)
	}
	if *su.InstallState != "failed" || *su.PendingOSVersion != "15.3" || *su.FailureCount != 1 || *su.FailureReason != "no space" ||
		su.FailedAt == nil {
		t.Errorf("software update status %+v", su)
	}
}
