package service_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

func inventoryAnswer(requestType string) (string, map[string]any) {
	switch requestType {
	case "InstalledApplicationList":
		return "Acknowledged", map[string]any{"InstalledApplicationList": []map[string]any{
			{"Identifier": "com.apple.Safari", "Name": "Safari", "Version": "20621", "ShortVersion": "18.2", "BundleSize": 123456},
			{"Identifier": "com.example.Tool", "Name": "Tool", "Version": "1", "ShortVersion": "1.0"}}}
	case "CertificateList":
		return "Acknowledged", map[string]any{"CertificateList": []map[string]any{
			{"CommonName": "Device Identity", "IsIdentity": true, "Data": []byte{0x30, 0x03, 0x02, 0x01, 0x01}}}}
	case "ProfileList":
		return "Acknowledged", map[string]any{"ProfileList": []map[string]any{
			{"PayloadIdentifier": "com.example.wifi", "PayloadUUID": "U1", "PayloadDisplayName": "Wi-Fi", "IsManaged": true}}}
	}
	return "Acknowledged", map[string]any{}
}

// Acceptance 3: a new enrollment gets its first inventory at once; a stale
// device gets exactly one set of commands, a fresh one none; the answers
// fill the lists.
func TestInventoryStaleGetsOneSetFreshNone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "All", BlueprintSettings: store.BlueprintSettings{
		CollectApps: store.CollectAll, CollectCertificates: store.CollectManagedOnly, CollectProfiles: store.CollectAll}})
	must(t, err)
	stale := enrollMac(t, svc, s, "UDID-STALE", true, false, &b.ID)
	fresh := enrollMac(t, svc, s, "UDID-FRESH", true, false, nil)

	full := []string{"DeviceInformation", "SecurityInfo", "InstalledApplicationList", "CertificateList", "ProfileList"}
	if got := pendingTypes(t, s, stale.id); !slices.Equal(got, full) {
		t.Fatalf("first inventory = %v, want %v", got, full)
	}
	if got := pendingTypes(t, s, fresh.id); !slices.Equal(got, full[:2]) {
		t.Fatalf("first inventory without blueprint = %v", got)
	}
	// Nothing is due while the requests are fresh.
	run, err := svc.RequestInventory(ctx)
	must(t, err)
	if run.Commands != 0 {
		t.Fatalf("run right after enrollment queued %+v", run)
	}
	stale.run(inventoryAnswer)
	fresh.run(inventoryAnswer)

	// The stale device's inventory and request are two days old; its
	// blueprint's interval is a day.
	_, err = s.Pool().Exec(ctx, `UPDATE enrolled_devices SET inventory_updated_at = now() - interval '2 days',
		inventory_requested_at = now() - interval '2 days' WHERE id = $1`, stale.id)
	must(t, err)
	for i := range 2 {
		run, err = svc.RequestInventory(ctx)
		must(t, err)
		want := service.InventoryRun{Devices: 1, Commands: 5}
		if i == 1 {
			want = service.InventoryRun{}
		}
		if run != want {
			t.Fatalf("run %d = %+v, want %+v", i, run, want)
		}
	}
	if got := pendingTypes(t, s, stale.id); !slices.Equal(got, full) {
		t.Fatalf("stale device got %v", got)
	}
	if got := pendingTypes(t, s, fresh.id); len(got) != 0 {
		t.Fatalf("fresh device got %v", got)
	}

	checkFullInventoryStored(t, ctx, s, stale.id)
	at, err := s.InventoryUpdatedAt(ctx, fresh.id)
	must(t, err)
	if at == nil || time.Since(*at) > time.Minute {
		t.Fatalf("inventoryUpdatedAt = %v", at)
	}
}

// checkFullInventoryStored checks the device's stored apps, certificates and profiles from inventoryAnswer.
func checkFullInventoryStored(t *testing.T, ctx context.Context, s *store.Store, id int64) {
	t.Helper()
	apps, _, err := s.ListInstalledApplications(ctx, id, store.Page{First: 10})
	must(t, err)
	if len(apps) != 2 || apps[0].Identifier != "com.apple.Safari" || *apps[0].BundleSize != 123456 || apps[1].BundleSize != nil {
		t.Fatalf("apps = %+v", apps)
	}
	certs, _, err := s.ListDeviceCertificates(ctx, id, store.Page{First: 10})
	must(t, err)
	if len(certs) != 1 || !certs[0].IsIdentity || !bytes.Equal(certs[0].Data, []byte{0x30, 0x03, 0x02, 0x01, 0x01}) {
		t.Fatalf("certificates = %+v", certs)
	}
	profiles, _, err := s.ListDeviceProfiles(ctx, id, store.Page{First: 10})
	must(t, err)
	if len(profiles) != 1 || profiles[0].Identifier != "com.example.wifi" || profiles[0].IsManaged == nil || !*profiles[0].IsManaged {
		t.Fatalf("profiles = %+v", profiles)
	}
}

// A list answer that is not a list is stored as sent and changes nothing:
// no crash, no retry.
func TestInventoryMalformedAnswerIsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Apps",
		BlueprintSettings: store.BlueprintSettings{CollectApps: store.CollectAll}})
	must(t, err)
	mac := enrollMac(t, svc, s, "UDID-BAD", true, false, &b.ID)
	ran := mac.run(func(rt string) (string, map[string]any) {
		return "Acknowledged", map[string]any{"InstalledApplicationList": "not a list"}
	})
	if len(ran) != 3 {
		t.Fatalf("ran %v", ran)
	}
	apps, _, err := s.ListInstalledApplications(ctx, mac.id, store.Page{First: 10})
	must(t, err)
	if len(apps) != 0 || len(pendingTypes(t, s, mac.id)) != 0 {
		t.Fatalf("a malformed answer stored %v or queued more", apps)
	}
}

// Acceptance 4: a DEP device awaiting configuration gets DeviceConfigured
// after its setup commands, and leaves Setup Assistant once it answers.
func TestAwaitingConfigurationGetsDeviceConfiguredLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "DEP",
		BlueprintSettings: store.BlueprintSettings{RecoveryPassword: true}})
	must(t, err)
	mac := enrollMac(t, svc, s, "UDID-DEP", true, true, &b.ID)
	want := []string{"DeviceInformation", "SecurityInfo", "SetRecoveryLock", "DeviceConfigured"}
	if got := pendingTypes(t, s, mac.id); !slices.Equal(got, want) {
		t.Fatalf("queued = %v, want %v", got, want)
	}
	if ran := mac.run(nil); !slices.Equal(ran, want) {
		t.Fatalf("ran %v", ran)
	}
	d, err := s.Device(ctx, mac.id)
	must(t, err)
	if d.AwaitingConfiguration {
		t.Fatal("still awaiting configuration after DeviceConfigured")
	}
	// A later TokenUpdate sets nothing up again.
	must(t, svc.TokenUpdate(ctx, mac.ch, tokenUpdate()))
	if got := pendingTypes(t, s, mac.id); len(got) != 0 {
		t.Fatalf("second TokenUpdate queued %v", got)
	}
	if !slices.Contains(auditActions(t, s), "device.configured") {
		t.Fatal("DeviceConfigured not audited")
	}
}
