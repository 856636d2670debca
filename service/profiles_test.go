package service_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// newProfileService is the service with a profile signer (the embedded CA).
func newProfileService(tb testing.TB) (*service.Service, *store.Store) {
	tb.Helper()
	s := pgtest.New(tb)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inserter, err := jobargs.NewInserter(s.Pool(), logger)
	if err != nil {
		tb.Fatal(err)
	}
	signer := func(ctx context.Context) (*x509.Certificate, crypto.PrivateKey, error) {
		ca, err := endpoint.LoadCA(ctx, s)
		if err != nil {
			return nil, nil, err
		}
		return ca.Cert, ca.Key, nil
	}
	return service.New(service.Config{Store: s, Jobs: inserter, Logger: logger, ProfileSigner: signer,
		PublicURL: "https://orchard.example.com"}), s
}

func testProfile(identifier, version string) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>
<key>PayloadType</key><string>Configuration</string><key>PayloadIdentifier</key><string>%s</string>
<key>PayloadUUID</key><string>U-%s</string><key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.dock</string><key>PayloadUUID</key><string>C-%s</string>
<key>Version</key><string>%s</string></dict></array></dict></plist>`, identifier, version, version, version)
}

// devicesOnBlueprint adds n enrolled devices on a blueprint.
func devicesOnBlueprint(tb testing.TB, s *store.Store, blueprintID int64, n int) {
	tb.Helper()
	_, err := s.Pool().Exec(context.Background(), `INSERT INTO enrolled_devices (udid, serial_number, platform, blueprint_id)
		SELECT gen_random_uuid()::text, 'S' || g, 'macOS', $2 FROM generate_series(1, $1) g`, n, blueprintID)
	if err != nil {
		tb.Fatal(err)
	}
}

// acknowledgeAll has every device acknowledge every pending command.
func acknowledgeAll(tb testing.TB, s *store.Store) {
	tb.Helper()
	_, err := s.Pool().Exec(context.Background(), `UPDATE mdm_device_commands SET status = 'Acknowledged', result_at = now()
		WHERE status IN ('Queued', 'Sent', 'NotNow')`)
	if err != nil {
		tb.Fatal(err)
	}
}

func TestProfileRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Macs")
	must(t, err)
	p, err := svc.UploadProfile(ctx, "setup", testProfile("com.example.dock", "1"))
	must(t, err)
	before := len(auditActions(t, s))
	many := make([]int64, 201)
	for i := range many {
		many[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name string
		want service.Kind
		call func() error
	}{
		{"upload: garbage", service.Invalid, func() error { _, err := svc.UploadProfile(ctx, "t", []byte("x")); return err }},
		{"upload: identifier taken", service.Invalid, func() error {
			_, err := svc.UploadProfile(ctx, "t", testProfile("com.example.dock", "2"))
			return err
		}},
		{"update: unknown", service.NotFound, func() error {
			_, err := svc.UpdateProfile(ctx, "t", 999, testProfile("com.example.dock", "2"))
			return err
		}},
		{"update: other identifier", service.Invalid, func() error {
			_, err := svc.UpdateProfile(ctx, "t", p.ID, testProfile("com.example.other", "2"))
			return err
		}},
		{"delete: unknown", service.NotFound, func() error { return svc.DeleteProfile(ctx, "t", 999) }},
		{"blueprint: unknown", service.NotFound, func() error { _, err := svc.SetBlueprintProfiles(ctx, "t", 999, nil); return err }},
		{"blueprint: unknown profile", service.Invalid, func() error {
			_, err := svc.SetBlueprintProfiles(ctx, "t", bp.ID, []int64{p.ID, 999})
			return err
		}},
		{"blueprint: too many", service.Invalid, func() error { _, err := svc.SetBlueprintProfiles(ctx, "t", bp.ID, many); return err }},
	} {
		if err := tc.call(); !service.IsKind(err, tc.want) {
			t.Errorf("%s: %v, want kind %d", tc.name, err, tc.want)
		}
	}
	if after := len(auditActions(t, s)); after != before {
		t.Fatalf("refusals wrote %d audit events", after-before)
	}
	list, err := s.BlueprintProfiles(ctx, bp.ID)
	if err != nil || len(list) != 0 {
		t.Fatalf("blueprint profiles after refusals: %v, %v", list, err)
	}
}

// A reconcile never queues a second command for a profile while one is
// pending; a deleted profile is removed from the devices that have it.
func TestReconcileNeverTwiceWhilePendingAndDeleteRemoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Macs")
	must(t, err)
	devicesOnBlueprint(t, s, bp.ID, 3)
	p, err := svc.UploadProfile(ctx, "setup", testProfile("com.example.dock", "1"))
	must(t, err)
	_, err = svc.SetBlueprintProfiles(ctx, "setup", bp.ID, []int64{p.ID})
	must(t, err)
	scope := store.ProfileScope{BlueprintID: &bp.ID}
	for i, want := range []service.ReconcileResult{{Installs: 3}, {}} {
		got, err := svc.ReconcileProfiles(ctx, "job", scope)
		if err != nil || got != want {
			t.Fatalf("reconcile %d = %+v, %v; want %+v", i, got, err, want)
		}
	}
	_, err = svc.UpdateProfile(ctx, "setup", p.ID, testProfile("com.example.dock", "2"))
	must(t, err)
	if got, err := svc.ReconcileProfiles(ctx, "job", scope); err != nil || got != (service.ReconcileResult{}) {
		t.Fatalf("reconcile while installs are pending = %+v, %v", got, err)
	}
	acknowledgeAll(t, s)
	if got, err := svc.ReconcileProfiles(ctx, "job", scope); err != nil || got != (service.ReconcileResult{Installs: 3}) {
		t.Fatalf("reconcile of the new version = %+v, %v", got, err)
	}
	acknowledgeAll(t, s)
	must(t, svc.DeleteProfile(ctx, "setup", p.ID))
	if got, err := svc.ReconcileProfiles(ctx, "job", scope); err != nil || got != (service.ReconcileResult{Removals: 3}) {
		t.Fatalf("reconcile after delete = %+v, %v", got, err)
	}
	acknowledgeAll(t, s)
	if got, err := svc.ReconcileProfiles(ctx, "job", scope); err != nil || got != (service.ReconcileResult{}) {
		t.Fatalf("reconcile after removals = %+v, %v", got, err)
	}
	var jobs int
	must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'profile_reconcile'").Scan(&jobs))
	if jobs != 3 { // setBlueprintProfiles, updateProfile, deleteProfile
		t.Fatalf("%d reconcile jobs queued, want 3", jobs)
	}
}

// BenchmarkReconcileChangedProfile10000 is acceptance 4: 10,000 devices on
// a blueprint whose profile changed; one reconcile queues 10,000 signed
// InstallProfile commands (and their pushes).
func BenchmarkReconcileChangedProfile10000(b *testing.B) {
	ctx := context.Background()
	svc, s := newProfileService(b)
	bp, err := svc.CreateBlueprint(ctx, "setup", "Fleet")
	if err != nil {
		b.Fatal(err)
	}
	devicesOnBlueprint(b, s, bp.ID, 10000)
	p, err := svc.UploadProfile(ctx, "setup", testProfile("com.example.dock", "0"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.SetBlueprintProfiles(ctx, "setup", bp.ID, []int64{p.ID}); err != nil {
		b.Fatal(err)
	}
	scope := store.ProfileScope{BlueprintID: &bp.ID}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		acknowledgeAll(b, s)
		if _, err := svc.UpdateProfile(ctx, "setup", p.ID, testProfile("com.example.dock", fmt.Sprint(i+1))); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := svc.ReconcileProfiles(ctx, "job", scope)
		if err != nil || res.Installs != 10000 {
			b.Fatalf("reconcile = %+v, %v", res, err)
		}
	}
}
