package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestFindMyPINLeavesTheQueueWithItsCommand: a DeviceLock or EraseDevice
// plist (which may hold the PIN, sealed) is kept while the device may be sent it,
// and emptied once answered or cancelled; other commands keep theirs.
func TestFindMyPINLeavesTheQueueWithItsCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: "PIN-1"}, CertHash: []byte("hash"), CertNotAfter: time.Now().Add(time.Hour)}
	id, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
	mustQueue(t, err)
	mustQueue(t, s.TokenUpdate(ctx, ch, store.TokenUpdate{Token: []byte("t"), PushMagic: "m"}))
	enqueue := func(requestType string, payload map[string]any) string {
		t.Helper()
		uuid, body, err := mdmproto.NewCommand(requestType, payload)
		mustQueue(t, err)
		mustQueue(t, s.Tx(ctx, func(q *store.Queries) error {
			_, err := q.QueueCommand(ctx, store.QueuedCommand{DeviceID: id, UUID: uuid, RequestType: requestType,
				Body: body, Actor: "test"})
			return err
		}))
		return uuid
	}
	bodyLen := func(uuid string) int {
		t.Helper()
		var n int
		mustQueue(t, s.Pool().QueryRow(ctx, `SELECT length(command) + coalesce(length(command_sealed), 0)
			FROM mdm_device_commands WHERE uuid = $1`, uuid).Scan(&n))
		return n
	}
	report := func(uuid, status string) {
		t.Helper()
		if _, found, err := s.ReportResult(ctx, ch, store.Result{Status: status, CommandUUID: uuid}); err != nil || !found {
			t.Fatalf("%s for %s: found %v, %v", status, uuid, found, err)
		}
	}

	// Results are accepted only for commands the device was sent.
	send := func(want string) {
		t.Helper()
		if next, err := s.Idle(ctx, ch); err != nil || next.UUID != want {
			t.Fatalf("Idle: %q %v, want %s", next.UUID, err, want)
		}
	}

	lock := enqueue("DeviceLock", map[string]any{"PIN": "123456"})
	list := enqueue("ProfileList", nil)
	send(lock)
	report(lock, "NotNow")
	if bodyLen(lock) == 0 {
		t.Fatal("a NotNow DeviceLock lost its plist: it is sent again")
	}
	send(lock)
	report(lock, "Acknowledged")
	report(list, "Acknowledged")
	if bodyLen(lock) != 0 || bodyLen(list) == 0 {
		t.Fatalf("after the answers: DeviceLock plist %d bytes (want 0), ProfileList %d", bodyLen(lock), bodyLen(list))
	}

	erase := enqueue("EraseDevice", map[string]any{"PIN": "654321"})
	if _, err := cancelCommand(ctx, s, erase); err != nil {
		t.Fatal(err)
	}
	failed := enqueue("DeviceLock", map[string]any{"PIN": "111111"})
	send(failed)
	report(failed, "Error")
	pending := enqueue("EraseDevice", map[string]any{"PIN": "222222"})
	_, _, err = s.Authenticate(ctx, ch, mdmproto.DeviceFacts{}) // a new enrollment clears the queue
	mustQueue(t, err)
	for name, uuid := range map[string]string{"cancelled": erase, "failed": failed, "cleared by Authenticate": pending} {
		if n := bodyLen(uuid); n != 0 {
			t.Errorf("%s command keeps a %d-byte plist", name, n)
		}
	}
}

func mustQueue(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// cancelCommand cancels a command the way the service does (in its own statement here).
func cancelCommand(ctx context.Context, s *store.Store, uuid string) (store.DeviceCommand, error) {
	return s.CancelCommand(ctx, uuid)
}
