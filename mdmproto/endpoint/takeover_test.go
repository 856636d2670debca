package endpoint_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/store"
)

// impostor gets its own identity through the OTA enrollment, as anyone who
// downloads the profile can, and then claims to be victim.
func (ts *testServer) impostor(victim *devicesim.Device, enrollURL string) *devicesim.Device {
	ts.t.Helper()
	d := ts.device()
	if err := d.FetchProfile(context.Background(), enrollURL); err != nil {
		ts.t.Fatal(err)
	}
	if err := d.RequestIdentity(context.Background()); err != nil {
		ts.t.Fatal(err)
	}
	d.UDID, d.SerialNumber = victim.UDID, victim.SerialNumber
	return d
}

func TestNewIdentityCannotTakeOverAnEnrolledDevice(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	victim := ts.enrolled()
	uuid := ts.queue(ts.deviceRow(victim.UDID).ID, "DeviceInformation", nil)
	attacker := ts.impostor(victim, ts.enrollURL)

	before := ts.snapshot()
	_, err := attacker.Checkin(ctx, attacker.AuthenticateMessage())
	if got := status(t, err); got != http.StatusForbidden {
		t.Fatalf("Authenticate with a new identity for an enrolled UDID: HTTP %d, want 403", got)
	}
	if ts.snapshot() != before {
		t.Fatal("the refused Authenticate changed the database (rebind, queue, facts)")
	}
	// The real device re-authenticating with the identity it has is how
	// devices re-enroll; it keeps working and gets its command.
	if _, err := victim.Checkin(ctx, victim.AuthenticateMessage()); err != nil {
		t.Fatalf("same-identity Authenticate: %v", err)
	}
	if _, err := victim.Checkin(ctx, victim.TokenUpdateMessage()); err != nil {
		t.Fatal(err)
	}
	uuid = ts.queue(ts.deviceRow(victim.UDID).ID, "DeviceInformation", nil)
	if _, err := victim.Connect(ctx); err != nil {
		t.Fatalf("real device after the refused takeover: %v", err)
	}
	if st, _ := ts.commandStatus(uuid); st != "Acknowledged" {
		t.Fatalf("the real device's command is %s", st)
	}
}

func TestAdministratorAllowsOneReenrollment(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	old := ts.enrolled()
	id := ts.deviceRow(old.UDID).ID
	if _, err := ts.svc.AllowDeviceReenrollment(ctx, "admin@example.com", id); err != nil {
		t.Fatal(err)
	}
	restored := ts.impostor(old, ts.enrollURL)
	if _, err := restored.Checkin(ctx, restored.AuthenticateMessage()); err != nil {
		t.Fatalf("allowed re-enrollment refused: %v", err)
	}
	if _, err := old.Connect(ctx); status(t, err) != http.StatusForbidden {
		t.Fatalf("the replaced identity still works: %v", err)
	}
	again := ts.impostor(old, ts.enrollURL)
	if _, err := again.Checkin(ctx, again.AuthenticateMessage()); status(t, err) != http.StatusForbidden {
		t.Fatalf("the allowance was not one-shot: %v", err)
	}
	var n int
	_ = ts.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE
		(action = 'device.allow_reenrollment' AND actor = 'admin@example.com') OR action = 'device.reenroll'`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d audit events for the allowance and its use, want 2", n)
	}
	if _, err := ts.svc.AllowDeviceReenrollment(ctx, "admin", 987654); err == nil {
		t.Fatal("allowance for an unknown device accepted")
	}
}

func TestCheckedOutExpiredOrDEPDevicesMayReenroll(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()

	out := ts.enrolled()
	if _, err := out.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.CheckOut, Enrollment: mdmproto.Enrollment{UDID: out.UDID}}); err != nil {
		t.Fatal(err)
	}
	back := ts.impostor(out, ts.enrollURL)
	if _, err := back.Checkin(ctx, back.AuthenticateMessage()); err != nil {
		t.Fatalf("re-enrollment after CheckOut: %v", err)
	}

	expired := ts.enrolled()
	ts.exec("UPDATE enrolled_devices SET cert_not_valid_after = now() - interval '1 minute' WHERE udid = $1", expired.UDID)
	renewed := ts.impostor(expired, ts.enrollURL)
	if _, err := renewed.Checkin(ctx, renewed.AuthenticateMessage()); err != nil {
		t.Fatalf("re-enrollment after the identity expired: %v", err)
	}

	assigned := ts.enrolled()
	ts.exec(`WITH t AS (INSERT INTO dep_tokens (name, certificate, private_key_sealed) VALUES ('t', '\x00', 'x') RETURNING id),
		v AS (INSERT INTO dep_virtual_servers (token_id, server_uuid) SELECT id, 'S1' FROM t RETURNING id)
		INSERT INTO dep_devices (virtual_server_id, serial_number) SELECT id, $1 FROM v`, assigned.SerialNumber)
	viaOTA := ts.impostor(assigned, ts.enrollURL)
	if _, err := viaOTA.Checkin(ctx, viaOTA.AuthenticateMessage()); status(t, err) != http.StatusForbidden {
		t.Fatalf("a DEP-assigned device rebound through an OTA enrollment: %v", err)
	}
	dep, err := ts.store.CreateEnrollment(ctx, store.NewEnrollment{Name: "DEP", DEP: true})
	if err != nil {
		t.Fatal(err)
	}
	viaDEP := ts.impostor(assigned, ts.srv.URL+"/enroll/"+dep.Secret)
	if _, err := viaDEP.Checkin(ctx, viaDEP.AuthenticateMessage()); err != nil {
		t.Fatalf("DEP re-enrollment of a DEP-assigned device: %v", err)
	}
}

func TestCheckedOutDeviceCannotTokenUpdateBack(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	if _, err := d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.CheckOut, Enrollment: mdmproto.Enrollment{UDID: d.UDID}}); err != nil {
		t.Fatal(err)
	}
	before := ts.snapshot()
	_, err := d.Checkin(ctx, d.TokenUpdateMessage())
	if got := status(t, err); got != http.StatusForbidden {
		t.Fatalf("TokenUpdate after CheckOut: HTTP %d, want 403", got)
	}
	if ts.snapshot() != before {
		t.Fatal("the refused TokenUpdate changed the database")
	}
	if _, err := d.Connect(ctx); status(t, err) != http.StatusForbidden {
		t.Fatalf("connect after CheckOut: %v", err)
	}
}

func TestDeletedEnrollmentRevokesItsIdentities(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	doomed, err := ts.store.CreateEnrollment(ctx, store.NewEnrollment{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	d := ts.device()
	if err := d.Enroll(ctx, ts.srv.URL+"/enroll/"+doomed.Secret); err != nil {
		t.Fatal(err)
	}
	spare := ts.device() // an identity issued but not yet used
	if err := spare.FetchProfile(ctx, ts.srv.URL+"/enroll/"+doomed.Secret); err != nil {
		t.Fatal(err)
	}
	if err := spare.RequestIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	other := ts.enrolled()
	if _, _, err := ts.store.DeleteEnrollment(ctx, doomed.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Connect(ctx); status(t, err) != http.StatusForbidden {
		t.Fatalf("connect with a revoked identity: %v", err)
	}
	if _, err := d.Checkin(ctx, d.AuthenticateMessage()); status(t, err) != http.StatusForbidden {
		t.Fatalf("Authenticate with a revoked identity: %v", err)
	}
	if _, err := spare.Checkin(ctx, spare.AuthenticateMessage()); status(t, err) != http.StatusForbidden {
		t.Fatalf("Authenticate with an unused revoked identity: %v", err)
	}
	if _, err := other.Connect(ctx); err != nil {
		t.Fatalf("a device of another enrollment: %v", err)
	}
}

func TestExpiredOrUsedUpEnrollmentIssuesNothing(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	one := 1
	limited, err := ts.store.CreateEnrollment(ctx, store.NewEnrollment{Name: "once", MaxUses: &one})
	if err != nil {
		t.Fatal(err)
	}
	url := ts.srv.URL + "/enroll/" + limited.Secret
	late := ts.device()
	if err := late.FetchProfile(ctx, url); err != nil { // fetched while still open
		t.Fatal(err)
	}
	if err := ts.device().Enroll(ctx, url); err != nil {
		t.Fatal(err)
	}
	if err := ts.device().FetchProfile(ctx, url); status(t, err) != http.StatusGone {
		t.Fatalf("profile of a used-up enrollment: %v", err)
	}
	if err := late.RequestIdentity(ctx); err == nil {
		t.Fatal("a used-up enrollment's challenge issued an identity")
	}
	soon := time.Now().Add(time.Hour)
	expiring, err := ts.store.CreateEnrollment(ctx, store.NewEnrollment{Name: "soon", ExpiresAt: &soon})
	if err != nil {
		t.Fatal(err)
	}
	url = ts.srv.URL + "/enroll/" + expiring.Secret
	if err := late.FetchProfile(ctx, url); err != nil {
		t.Fatal(err)
	}
	ts.exec("UPDATE mdm_enrollments SET expires_at = now() - interval '1 second' WHERE id = $1", expiring.ID)
	if err := ts.device().FetchProfile(ctx, url); status(t, err) != http.StatusGone {
		t.Fatalf("profile of an expired enrollment: %v", err)
	}
	if err := late.RequestIdentity(ctx); err == nil {
		t.Fatal("an expired enrollment's challenge issued an identity")
	}
	if n, _ := ts.store.CountSCEPCertificates(ctx); n != 1 {
		t.Fatalf("%d certificates issued, want 1", n)
	}
}
