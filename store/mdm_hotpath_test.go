package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestIdleIsOneRoundTrip keeps the hot path honest: an Idle, with or without
// a command to send, is one statement.
func TestIdleIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)

	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: "HOT-1"}, CertHash: []byte("hash"), CertNotAfter: time.Now().Add(time.Hour)}
	id, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TokenUpdate(ctx, ch, store.TokenUpdate{Token: []byte("t"), PushMagic: "m"}); err != nil {
		t.Fatal(err)
	}
	uuid, body, _ := mdmproto.NewCommand("ProfileList", nil)
	err = s.Tx(ctx, func(q *store.Queries) error {
		_, err := q.EnqueueCommand(ctx, id, uuid, "ProfileList", body, "test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	idle := func(want string) {
		t.Helper()
		traced, log := pgtest.WithStatementLog(ctx)
		next, err := s.Idle(traced, ch)
		if err != nil || next.UUID != want {
			t.Fatalf("Idle: %q %v, want command %q", next.UUID, err, want)
		}
		if n := log.Len(); n != 1 {
			t.Fatalf("Idle took %d statements, want 1", n)
		}
	}
	idle(uuid)
	idle(uuid) // sent but unanswered: offered again
	if _, answered, err := s.ReportResult(ctx, ch, store.Result{Status: "Acknowledged", CommandUUID: uuid}); err != nil || answered == nil {
		t.Fatalf("result: answered %+v, %v", answered, err)
	}
	idle("")
}

// TestNextCommandNamesItsCommand: Idle and ReportResult return the command's
// id, device and request type with it (and ReportResult the answered
// command's), so their status events need no lookup.
func TestNextCommandNamesItsCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: "NAMED-1"}, CertHash: []byte("hash"), CertNotAfter: time.Now().Add(time.Hour)}
	id, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TokenUpdate(ctx, ch, store.TokenUpdate{Token: []byte("t"), PushMagic: "m"}); err != nil {
		t.Fatal(err)
	}
	var uuids []string
	for _, requestType := range []string{"ProfileList", "CertificateList"} {
		uuid, body, _ := mdmproto.NewCommand(requestType, nil)
		err = s.Tx(ctx, func(q *store.Queries) error {
			_, err := q.EnqueueCommand(ctx, id, uuid, requestType, body, "test")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		uuids = append(uuids, uuid)
	}
	check := func(next mdmproto.NextCommand, uuid, requestType string) {
		t.Helper()
		ref, err := s.CommandRefByUUID(ctx, uuid)
		if err != nil {
			t.Fatal(err)
		}
		if next.UUID != uuid || next.ID != ref.ID || next.DeviceID != id || next.RequestType != requestType {
			t.Fatalf("next = %+v, want %s (id %d) %s of device %d", next, uuid, ref.ID, requestType, id)
		}
	}
	next, err := s.Idle(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	check(next, uuids[0], "ProfileList")
	next, answered, err := s.ReportResult(ctx, ch, store.Result{Status: "Acknowledged", CommandUUID: uuids[0]})
	if err != nil || answered == nil {
		t.Fatalf("result: answered %+v, %v", answered, err)
	}
	check(mdmproto.NextCommand{UUID: uuids[0], ID: answered.ID, DeviceID: answered.DeviceID, RequestType: answered.RequestType},
		uuids[0], "ProfileList")
	check(next, uuids[1], "CertificateList")
}
