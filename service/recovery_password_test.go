package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

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

// A Mac that refuses its recovery password is asked again only after a
// pause that doubles with each refusal in a row (an hour, then two); an
// administrator's request is never held back, and an acknowledged password
// clears the count.
func TestRefusedRecoveryPasswordIsAskedAgainAfterAGrowingPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Locked",
		BlueprintSettings: store.BlueprintSettings{RecoveryPassword: true}})
	must(t, err)
	mac := enrollMac(t, svc, s, "UDID-REFUSING", true, false, &b.ID)
	refuse := func(string) (string, map[string]any) { return "Error", map[string]any{} }
	pause := func() (refusals int, wait time.Duration) {
		var seconds float64
		must(t, s.Pool().QueryRow(ctx, `SELECT recovery_password_refusals,
			coalesce(extract(epoch FROM recovery_password_retry_at - now()), 0) FROM enrolled_devices WHERE id = $1`,
			mac.id).Scan(&refusals, &seconds))
		return refusals, time.Duration(seconds * float64(time.Second))
	}
	enforce := func(want int) {
		t.Helper()
		if n, err := svc.EnforceRecoveryPasswords(ctx); err != nil || n != want {
			t.Fatalf("enforce queued %d (%v), want %d", n, err, want)
		}
	}
	mac.run(refuse)
	if n, wait := pause(); n != 1 || wait < 59*time.Minute || wait > time.Hour {
		t.Fatalf("after one refusal: %d refusals, asked again in %v; want 1 and an hour", n, wait)
	}
	enforce(0)
	_, err = s.Pool().Exec(ctx, "UPDATE enrolled_devices SET recovery_password_retry_at = now() WHERE id = $1", mac.id)
	must(t, err)
	enforce(1)
	mac.run(refuse)
	if n, wait := pause(); n != 2 || wait < 119*time.Minute || wait > 2*time.Hour {
		t.Fatalf("after two refusals: %d refusals, asked again in %v; want 2 and two hours", n, wait)
	}
	enforce(0)

	_, err = svc.SetRecoveryPassword(ctx, "ada", mac.id)
	must(t, err)
	mac.run(nil)
	if n, wait := pause(); n != 0 || wait != 0 || revealRecovery(t, svc, s, mac.id) == "" {
		t.Fatalf("after an acknowledged password: %d refusals, pause %v", n, wait)
	}
}
