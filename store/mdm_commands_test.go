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
// queueDevice is a device channel with helpers to queue, send and answer.
type queueDevice struct {
	t  *testing.T
	s  *store.Store
	ch store.Channel
	id int64
}

func newQueueDevice(t *testing.T, s *store.Store, udid string) *queueDevice {
	ctx := context.Background()
	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: udid}, CertHash: []byte("hash"), CertNotAfter: time.Now().Add(time.Hour)}
	id, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
	mustQueue(t, err)
	mustQueue(t, s.TokenUpdate(ctx, ch, store.TokenUpdate{Token: []byte("t"), PushMagic: "m"}))
	return &queueDevice{t: t, s: s, ch: ch, id: id}
}

func (d *queueDevice) enqueue(requestType string, payload map[string]any) string {
	d.t.Helper()
	ctx := context.Background()
	uuid, body, err := mdmproto.NewCommand(requestType, payload)
	mustQueue(d.t, err)
	mustQueue(d.t, d.s.Tx(ctx, func(q *store.Queries) error {
		_, err := q.QueueCommand(ctx, store.QueuedCommand{DeviceID: d.id, UUID: uuid, RequestType: requestType,
			Body: body, Actor: "test"})
		return err
	}))
	return uuid
}

// bodyLen is how many bytes of its plist a command keeps, clear or sealed.
func (d *queueDevice) bodyLen(uuid string) int {
	d.t.Helper()
	var n int
	mustQueue(d.t, d.s.Pool().QueryRow(context.Background(), `SELECT length(command) + coalesce(length(command_sealed), 0)
		FROM mdm_device_commands WHERE uuid = $1`, uuid).Scan(&n))
	return n
}

func (d *queueDevice) report(uuid, status string) {
	d.t.Helper()
	if _, answered, err := d.s.ReportResult(context.Background(), d.ch, store.Result{Status: status, CommandUUID: uuid}); err != nil || answered == nil {
		d.t.Fatalf("%s for %s: answered %+v, %v", status, uuid, answered, err)
	}
}

// send is an Idle that must be answered with want: results are accepted only
// for commands the device was sent.
func (d *queueDevice) send(want string) {
	d.t.Helper()
	if next, err := d.s.Idle(context.Background(), d.ch); err != nil || next.UUID != want {
		d.t.Fatalf("Idle: %q %v, want %s", next.UUID, err, want)
	}
}

func TestFindMyPINLeavesTheQueueWithItsCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	d := newQueueDevice(t, s, "PIN-1")
	lock := d.enqueue("DeviceLock", map[string]any{"PIN": "123456"})
	list := d.enqueue("ProfileList", nil)
	d.send(lock)
	d.report(lock, "NotNow")
	if d.bodyLen(lock) == 0 {
		t.Fatal("a NotNow DeviceLock lost its plist: it is sent again")
	}
	d.send(lock)
	d.report(lock, "Acknowledged")
	d.report(list, "Acknowledged")
	if d.bodyLen(lock) != 0 || d.bodyLen(list) == 0 {
		t.Fatalf("after the answers: DeviceLock plist %d bytes (want 0), ProfileList %d", d.bodyLen(lock), d.bodyLen(list))
	}

	erase := d.enqueue("EraseDevice", map[string]any{"PIN": "654321"})
	if _, err := cancelCommand(ctx, s, erase); err != nil {
		t.Fatal(err)
	}
	failed := d.enqueue("DeviceLock", map[string]any{"PIN": "111111"})
	d.send(failed)
	d.report(failed, "Error")
	pending := d.enqueue("EraseDevice", map[string]any{"PIN": "222222"})
	_, _, err := s.Authenticate(ctx, d.ch, mdmproto.DeviceFacts{}) // a new enrollment clears the queue
	mustQueue(t, err)
	for name, uuid := range map[string]string{"cancelled": erase, "failed": failed, "cleared by Authenticate": pending} {
		if n := d.bodyLen(uuid); n != 0 {
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
