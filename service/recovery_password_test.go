package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

func revealRecovery(t *testing.T, svc *service.Service, s *store.Store, id int64) string {
	t.Helper()
	d, err := s.Device(context.Background(), id)
	must(t, err)
	p, err := svc.RevealDeviceSecret(context.Background(), "ada", &d, "recovery_password_sealed")
	must(t, err)
	return string(p)
}

// Acceptance 2: set on enrollment, rotated on schedule, the old password
// readable until the Mac acknowledges the new one, never in clear in the
// command table, each reveal audited.
func TestRecoveryPasswordSetAndRotated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Locked",
		BlueprintSettings: store.BlueprintSettings{RecoveryPassword: true, RecoveryPasswordRotationDays: 30}})
	must(t, err)
	silicon := enrollMac(t, svc, s, "UDID-SILICON", true, false, &b.ID)
	intel := enrollMac(t, svc, s, "UDID-INTEL", false, false, &b.ID)
	if got := pendingTypes(t, s, intel.id); got[len(got)-1] != "SetFirmwarePassword" {
		t.Fatalf("Intel Mac got %v", got)
	}
	if revealRecovery(t, svc, s, silicon.id) != "" {
		t.Fatal("password readable before the Mac acknowledged it")
	}
	silicon.run(nil)
	first := revealRecovery(t, svc, s, silicon.id)
	if len(first) != 16 {
		t.Fatalf("password %q", first)
	}
	if n, err := svc.EnforceRecoveryPasswords(ctx); err != nil || n != 0 { // the Intel Mac's is still pending
		t.Fatalf("enforce before rotation = %d, %v", n, err)
	}

	_, err = s.Pool().Exec(ctx, "UPDATE enrolled_devices SET recovery_password_set_at = now() - interval '31 days' WHERE id = $1", silicon.id)
	must(t, err)
	if n, err := svc.EnforceRecoveryPasswords(ctx); err != nil || n != 1 {
		t.Fatalf("rotation queued %d, %v", n, err)
	}
	if got := revealRecovery(t, svc, s, silicon.id); got != first {
		t.Fatalf("old password must stay readable until acknowledged: %q", got)
	}
	// The rotation carries the current password, which the Mac checks; an
	// Error keeps the old one.
	silicon.run(func(string) (string, map[string]any) { return "Error", map[string]any{} })
	if got := revealRecovery(t, svc, s, silicon.id); got != first {
		t.Fatalf("a refused rotation changed the password to %q", got)
	}
	_, err = svc.SetRecoveryPassword(ctx, "ada", silicon.id)
	must(t, err)
	silicon.run(nil)
	second := revealRecovery(t, svc, s, silicon.id)
	if second == first || len(second) != 16 {
		t.Fatalf("rotated password %q (was %q)", second, first)
	}

	checkNoPasswordInClear(t, ctx, s, first, second)
	checkRevealsAudited(t, s)
	if _, err := svc.EnqueueCommand(ctx, "ada", silicon.id, "SetRecoveryLock", map[string]any{"NewPassword": "x"}); !service.IsKind(err, service.Invalid) ||
		!strings.Contains(err.Error(), "setRecoveryPassword") {
		t.Fatalf("enqueue of SetRecoveryLock: %v", err)
	}
}

// checkNoPasswordInClear checks no command row or result holds either password in clear.
func checkNoPasswordInClear(t *testing.T, ctx context.Context, s *store.Store, first, second string) {
	t.Helper()
	var clear int
	must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands
		WHERE position($1::bytea IN command) > 0 OR position($2::bytea IN command) > 0
			OR COALESCE(result::text, '') LIKE '%'||$3||'%'`, []byte(first), []byte(second), first).Scan(&clear))
	if clear != 0 {
		t.Fatalf("%d command rows hold a password in clear", clear)
	}
}

// checkRevealsAudited checks at least four device.reveal_secret audit events were written.
func checkRevealsAudited(t *testing.T, s *store.Store) {
	t.Helper()
	reveals := 0
	for _, a := range auditActions(t, s) {
		if a == "device.reveal_secret" {
			reveals++
		}
	}
	if reveals < 4 {
		t.Fatalf("%d reveals audited", reveals)
	}
}
