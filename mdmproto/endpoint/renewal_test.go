package endpoint_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/service"
)

// renewingService is the test server's service with identity renewal: it
// builds the same profiles the endpoint serves; pushes are not needed here.
func (ts *testServer) renewingService() *service.Service {
	profiles := endpoint.ProfilesOf(endpoint.Config{CA: ts.ca, PublicURL: ts.srv.URL})
	return service.New(service.Config{Store: ts.store, Profiles: profiles,
		PushDevices: func(context.Context, pgx.Tx, []int64) error { return nil }})
}

// An identity about to expire is renewed through the enrollment profile sent
// again: the device gets a new identity, its enrollment goes on (the command
// queued before is still delivered), and the old identity is refused.
func TestIdentityAboutToExpireIsRenewed(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	dev := ts.enrolled()
	row := ts.deviceRow(dev.UDID)
	oldCert, oldKey := dev.Cert, dev.Key
	_, err := ts.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET cert_not_valid_after = now() + interval '10 days' WHERE id = $1", row.ID)
	must(t, err)
	pending := ts.queue(row.ID, "ProfileList", nil)

	svc := ts.renewingService()
	n, err := svc.RenewIdentities(ctx, "test", service.RenewIdentitiesWithin, 100)
	if err != nil || n != 1 {
		t.Fatalf("renewals queued: %d, %v", n, err)
	}
	if again, _ := svc.RenewIdentities(ctx, "test", service.RenewIdentitiesWithin, 100); again != 0 {
		t.Fatalf("a second run queued %d more renewals the same day", again)
	}
	if _, err := dev.Connect(ctx); err != nil {
		t.Fatalf("device connect with its renewal: %v", err)
	}
	if bytes.Equal(dev.Cert.Raw, oldCert.Raw) {
		t.Fatal("the device got no new identity")
	}
	var bound []byte
	must(t, ts.store.Pool().QueryRow(ctx, "SELECT identity_cert_sha256 FROM enrolled_devices WHERE id = $1", row.ID).Scan(&bound))
	renewed := ts.deviceRow(dev.UDID)
	if !bytes.Equal(bound, mdmproto.CertHash(dev.Cert)) || !renewed.CertNotValidAfter.After(time.Now().AddDate(0, 11, 0)) {
		t.Fatalf("bound identity after renewal: %x, valid until %v", bound, renewed.CertNotValidAfter)
	}
	if st, _ := ts.commandStatus(pending); st != "Acknowledged" {
		t.Fatalf("the command queued before the renewal is %s: the enrollment did not go on", st)
	}
	stale := *dev
	stale.Cert, stale.Key = oldCert, oldKey
	if _, err := stale.Connect(ctx); status(t, err) != http.StatusForbidden {
		t.Fatalf("the replaced identity still works: %v", err)
	}
	var audited int
	must(t, ts.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events
		WHERE action IN ('device.identity_renewal', 'device.identity_renewed')`).Scan(&audited))
	if audited != 2 {
		t.Fatalf("%d audit events for the renewal, want its queueing and its binding", audited)
	}
}

// A renewal's certificate names the device it renews: another device cannot
// use it to take over.
func TestRenewalIdentityCannotTakeOverAnotherDevice(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	renewing, victim := ts.enrolled(), ts.enrolled()
	row := ts.deviceRow(renewing.UDID)
	_, err := ts.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET cert_not_valid_after = now() + interval '1 day' WHERE id = $1", row.ID)
	must(t, err)
	if _, err := ts.renewingService().RenewIdentities(ctx, "test", service.RenewIdentitiesWithin, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := renewing.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	thief := *renewing
	thief.UDID, thief.SerialNumber = victim.UDID, victim.SerialNumber
	if _, err := thief.Checkin(ctx, thief.AuthenticateMessage()); status(t, err) != http.StatusForbidden {
		t.Fatalf("a renewal identity took over another device: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
