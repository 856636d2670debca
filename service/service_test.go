package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// newService is the service on a fresh database, its jobs inserted by an
// insert-only River client (nothing works them: tests read them back) and
// the device path's events sent by a running publisher.
func newService(t *testing.T) (*service.Service, *store.Store) {
	t.Helper()
	s := pgtest.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	inserter, err := jobargs.NewInserter(s.Pool(), logger)
	must(t, err)
	publisher := events.NewPublisher(s.Pool(), logger)
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go publisher.Run(ctx)
	return service.New(service.Config{Store: s, Jobs: inserter, Logger: logger, PublicURL: "https://orchard.example.com",
		Events: publisher}), s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// auditActions lists the actions audited so far, oldest first.
func auditActions(t *testing.T, s *store.Store) []string {
	t.Helper()
	events, _, err := s.ListAuditEvents(context.Background(), store.Page{First: 1000})
	must(t, err)
	out := make([]string, len(events))
	for i, ev := range events {
		out[len(events)-1-i] = ev.Action
	}
	return out
}

func pushCert(t *testing.T, topic string, notAfter time.Time) service.PushCertificateUpload {
	t.Helper()
	pc, err := apnstest.NewPushCert(topic, notAfter)
	must(t, err)
	return service.PushCertificateUpload{Name: "main", Certificate: string(pc.CertPEM), PrivateKey: string(pc.KeyPEM)}
}

// Every refusal is a service.Error of the kind the edges map, and it leaves
// no change and no audit event behind.
// refusal is an operation that must be refused with a kind of error.
type refusal struct {
	name string
	want service.Kind
	call func() error
}

func TestRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	good := pushCert(t, "com.apple.mgmt.service-test", time.Now().AddDate(1, 0, 0))
	_, err := svc.UploadPushCertificate(ctx, "setup", good)
	must(t, err)
	_, err = svc.CreateBlueprint(ctx, "setup", "Laptops")
	must(t, err)
	before := len(auditActions(t, s))
	for _, tc := range append(pushAndDEPRefusals(t, svc, good), deviceAndEnrollmentRefusals(svc)...) {
		err := tc.call()
		if !service.IsKind(err, tc.want) {
			t.Errorf("%s: %v, want a refusal of kind %d", tc.name, err, tc.want)
		}
		if n := len(auditActions(t, s)); n != before {
			t.Errorf("%s: %d audit events written by a refusal", tc.name, n-before)
			before = n
		}
	}
	certs, err := s.ListPushCertificates(ctx)
	must(t, err)
	if len(certs) != 1 || certs[0].Topic != "com.apple.mgmt.service-test" {
		t.Errorf("push certificates after the refusals: %+v", certs)
	}
}

// A change and its audit event commit together, one event per operation.
func TestEachOperationAuditsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	cert, err := svc.UploadPushCertificate(ctx, "alice", pushCert(t, "com.apple.mgmt.audit", time.Now().AddDate(1, 0, 0)))
	must(t, err)
	_, err = svc.RenewPushCertificate(ctx, "alice", cert.ID, pushCert(t, "com.apple.mgmt.audit", time.Now().AddDate(1, 0, 0)))
	must(t, err)
	_, err = svc.CreateBlueprint(ctx, "bob", "Kiosks")
	must(t, err)
	_, err = svc.CreateDEPToken(ctx, "bob", "ABM")
	must(t, err)
	e, err := svc.CreateEnrollment(ctx, "bob", service.EnrollmentInput{Name: " Laptops "})
	must(t, err)
	if e.Name != "Laptops" || e.Secret == "" {
		t.Fatalf("enrollment %+v", e)
	}
	must(t, svc.DeleteEnrollment(ctx, "bob", e.ID))
	must(t, svc.RecordAPIToken(ctx, "cli", store.APIToken{JTI: "j1", Name: "ci", Permissions: []string{"mdm.*"}, ExpiresAt: time.Now().Add(time.Hour)}))
	if n, err := svc.RevokeAPITokens(ctx, "cli", "", "ci"); n != 1 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	want := []string{"push_certificate.create", "push_certificate.renew", "blueprint.create", "dep_token.create",
		"enrollment.create", "enrollment.delete", "api_token.create", "api_token.revoke"}
	got := auditActions(t, s)
	if len(got) != len(want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("audit %v, want %v", got, want)
		}
	}
}

// A push is queued in the transaction of its audit event, in jobs of at most
// jobargs.PushChunk devices.
func TestPushesAreQueuedWithTheirAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	// Devices are pushable only through a stored push certificate's topic.
	_, err := svc.UploadPushCertificate(ctx, "alice", pushCert(t, "com.apple.mgmt.x", time.Now().AddDate(1, 0, 0)))
	must(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic)
		SELECT 'UDID-' || i, decode(lpad(to_hex(i), 64, '0'), 'hex'), 'magic', 'com.apple.mgmt.x'
		FROM generate_series(1, $1) i`, jobargs.PushChunk+1)
	must(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO enrolled_devices (udid) VALUES ('NO-TOKEN')`)
	must(t, err)
	n, jobs, err := svc.PushDevices(ctx, "alice", store.DeviceFilter{})
	must(t, err)
	if n != jobargs.PushChunk+1 || len(jobs) != 2 {
		t.Fatalf("pushed %d devices in %d jobs, want %d in 2", n, len(jobs), jobargs.PushChunk+1)
	}
	var noToken int64
	must(t, s.Pool().QueryRow(ctx, "SELECT id FROM enrolled_devices WHERE udid = 'NO-TOKEN'").Scan(&noToken))
	if _, err := svc.PushDevice(ctx, "alice", noToken); !service.IsKind(err, service.Invalid) {
		t.Fatalf("push of a device without a token: %v", err)
	}
	if got := auditActions(t, s); len(got) != 2 || got[1] != "devices.push" {
		t.Fatalf("audit %v, want one devices.push after the upload", got)
	}
	var e *service.Error
	if _, err := svc.PushDevice(ctx, "alice", 12345); !errors.As(err, &e) || e.Kind != service.NotFound {
		t.Fatalf("push of an unknown device: %v", err)
	}
}

// A command queued for a device asks for its push in the command's
// transaction, as a wanted push the dispatcher gathers with others, not a
// push job of its own, and wakes the dispatchers once it committed; a
// refused command asks for nothing.
func TestQueuedCommandsWantPushesInTheirTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	_, err := svc.UploadPushCertificate(ctx, "alice", pushCert(t, "com.apple.mgmt.x", time.Now().AddDate(1, 0, 0)))
	must(t, err)
	broker := pgtest.StartBroker(t, s)
	wakeups, stopWakeups := broker.Subscribe(store.TopicPushWanted)
	defer stopWakeups()
	queued, stopQueued := broker.Subscribe(events.TopicCommand)
	defer stopQueued()
	rows, err := s.Pool().Query(ctx, `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic, token_updated)
		SELECT 'UDID-' || i, decode(lpad(to_hex(i), 64, '0'), 'hex'), 'magic', 'com.apple.mgmt.x', true
		FROM generate_series(1, 3) i RETURNING id`)
	must(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	must(t, err)
	for _, id := range ids {
		_, err := svc.EnqueueCommand(ctx, "alice", id, "DeviceInformation", map[string]any{"Queries": []any{"OSVersion"}})
		must(t, err)
	}
	_, err = svc.EnqueueCommand(ctx, "alice", ids[0], "DeviceInformation", map[string]any{"Queries": "not a list"})
	if !service.IsKind(err, service.Invalid) {
		t.Fatalf("a malformed command: %v", err)
	}
	var wanted, jobs int
	must(t, s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM apns_push_wanted WHERE device_id = ANY($1)),
		(SELECT count(*) FROM river_job WHERE kind = 'apns_push')`, ids).Scan(&wanted, &jobs))
	if wanted != 3 || jobs != 0 {
		t.Fatalf("%d wanted pushes and %d push jobs; want 3 and none", wanted, jobs)
	}
	// The Queued events and the wake-up went out once the commands committed
	// (identical wake-ups sent in one batch arrive as one).
	for range ids {
		if ev := pgtest.Receive(t, queued); ev.Type != "Queued" || ev.Kind != "DeviceInformation" {
			t.Fatalf("command event %+v", ev)
		}
	}
	if ev := pgtest.Receive(t, wakeups); ev.Topic != store.TopicPushWanted {
		t.Fatalf("wake-up %+v", ev)
	}
}

func pushAndDEPRefusals(t *testing.T, svc *service.Service, good service.PushCertificateUpload) []refusal {
	ctx := context.Background()
	year := time.Now().AddDate(1, 0, 0)
	expired := pushCert(t, "com.apple.mgmt.expired", time.Now().Add(-time.Minute))
	otherTopic := pushCert(t, "com.apple.mgmt.other", year)
	noName := good
	noName.Name = " "
	return []refusal{
		{"push certificate: expired", service.Invalid, func() error { _, err := svc.UploadPushCertificate(ctx, "t", expired); return err }},
		{"push certificate: no name", service.Invalid, func() error { _, err := svc.UploadPushCertificate(ctx, "t", noName); return err }},
		{"push certificate: topic stored", service.Invalid, func() error { _, err := svc.UploadPushCertificate(ctx, "t", good); return err }},
		{"push certificate: garbage", service.Invalid, func() error {
			_, err := svc.UploadPushCertificate(ctx, "t", service.PushCertificateUpload{Name: "x", Certificate: "x", PrivateKey: "y"})
			return err
		}},
		{"renewal: unknown id", service.NotFound, func() error { _, err := svc.RenewPushCertificate(ctx, "t", 999, good); return err }},
		{"renewal: other topic", service.Invalid, func() error { _, err := svc.RenewPushCertificate(ctx, "t", 1, otherTopic); return err }},
		{"blueprint: empty name", service.Invalid, func() error { _, err := svc.CreateBlueprint(ctx, "t", "  "); return err }},
		{"blueprint: name taken", service.Invalid, func() error { _, err := svc.CreateBlueprint(ctx, "t", "Laptops"); return err }},
		{"DEP token: no name", service.Invalid, func() error { _, err := svc.CreateDEPToken(ctx, "t", ""); return err }},
		{"DEP token upload: unknown id", service.NotFound, func() error { _, err := svc.UploadDEPToken(ctx, "t", 999, []byte("{}")); return err }},
		{"DEP sync: unknown server", service.NotFound, func() error { _, err := svc.SyncDEPVirtualServer(ctx, "t", 999, false); return err }},
		{"DEP default profile: unknown server", service.NotFound, func() error { _, err := svc.SetDEPDefaultProfile(ctx, "t", 999, nil); return err }},
		{"DEP profile delete: unknown", service.NotFound, func() error { return svc.DeleteDEPProfile(ctx, "t", 999) }},
		{"DEP assign: no serials", service.Invalid, func() error { _, err := svc.AssignDEPProfile(ctx, "t", 1, nil); return err }},
	}
}

func deviceAndEnrollmentRefusals(svc *service.Service) []refusal {
	ctx := context.Background()
	return []refusal{
		{"push: unknown device", service.NotFound, func() error { _, err := svc.PushDevice(ctx, "t", 999); return err }},
		{"enrollment: no name", service.Invalid, func() error { _, err := svc.CreateEnrollment(ctx, "t", service.EnrollmentInput{}); return err }},
		{"enrollment: expired", service.Invalid, func() error {
			past := time.Now().Add(-time.Hour)
			_, err := svc.CreateEnrollment(ctx, "t", service.EnrollmentInput{Name: "x", ExpiresAt: &past})
			return err
		}},
		{"enrollment: zero uses", service.Invalid, func() error {
			zero := 0
			_, err := svc.CreateEnrollment(ctx, "t", service.EnrollmentInput{Name: "x", MaxUses: &zero})
			return err
		}},
		{"enrollment: unknown blueprint", service.Invalid, func() error {
			bp := int64(999)
			_, err := svc.CreateEnrollment(ctx, "t", service.EnrollmentInput{Name: "x", BlueprintID: &bp})
			return err
		}},
		{"enrollment delete: unknown", service.NotFound, func() error { return svc.DeleteEnrollment(ctx, "t", 999) }},
		{"re-enrollment: unknown device", service.NotFound, func() error { _, err := svc.AllowDeviceReenrollment(ctx, "t", 999); return err }},
		{"token revoke: nothing named", service.Invalid, func() error { _, err := svc.RevokeAPITokens(ctx, "t", "", ""); return err }},
		{"command: unknown device", service.NotFound, func() error { _, err := svc.EnqueueCommand(ctx, "t", 999, "ProfileList", nil); return err }},
		{"command: payload against the schema", service.Invalid, func() error {
			_, err := svc.EnqueueCommand(ctx, "t", 999, "DeviceInformation", map[string]any{"Bogus": true})
			return err
		}},
		{"command: dedicated type", service.Invalid, func() error { _, err := svc.EnqueueCommand(ctx, "t", 1, "DeviceLock", nil); return err }},
		{"command: unknown type", service.Invalid, func() error { _, err := svc.EnqueueCommand(ctx, "t", 1, "Frobnicate", nil); return err }},
		{"lock: bad PIN", service.Invalid, func() error {
			pin := "12ab56"
			_, err := svc.LockDevice(ctx, "t", 1, service.LockOptions{PIN: &pin})
			return err
		}},
		{"cancel: unknown command", service.NotFound, func() error { _, err := svc.CancelCommand(ctx, "t", "nope"); return err }},
		{"block: unknown device", service.NotFound, func() error { _, err := svc.SetDeviceBlocked(ctx, "t", 999, true); return err }},
	}
}
