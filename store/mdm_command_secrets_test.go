package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// secretDevice is an enrolled device channel that can fetch and answer commands.
type secretDevice struct {
	s  *store.Store
	id int64
	ch store.Channel
}

func enrolledDevice(t *testing.T, s *store.Store, udid string, unlockToken []byte) secretDevice {
	t.Helper()
	ctx := context.Background()
	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: udid}, CertHash: []byte("hash-" + udid),
		CertNotAfter: time.Now().Add(time.Hour)}
	id, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
	mustQueue(t, err)
	mustQueue(t, s.TokenUpdate(ctx, ch, store.TokenUpdate{Token: []byte("t"), PushMagic: "m", UnlockToken: unlockToken}))
	return secretDevice{s: s, id: id, ch: ch}
}

// queue queues a command as the GraphQL edge does, with its PIN if any.
func (d secretDevice) queue(t *testing.T, requestType string, payload map[string]any) string {
	t.Helper()
	ctx := context.Background()
	uuid, body, err := mdmproto.NewCommand(requestType, payload)
	mustQueue(t, err)
	pin, _ := payload["PIN"].(string)
	mustQueue(t, d.s.Tx(ctx, func(q *store.Queries) error {
		_, err := q.QueueCommand(ctx, store.QueuedCommand{DeviceID: d.id, UUID: uuid, RequestType: requestType,
			Body: body, PIN: pin, Actor: "test"})
		return err
	}))
	return uuid
}

// answer reports status (and a result JSON) for uuid and returns the next
// command. The command is marked sent first: results count only for
// commands out with the device, and these tests are about what is stored.
func (d secretDevice) answer(t *testing.T, uuid, status string, result []byte) store.NextCommand {
	t.Helper()
	_, err := d.s.Pool().Exec(context.Background(), `UPDATE mdm_device_commands SET status = 'Sent', sent_at = now()
		WHERE uuid = $1 AND status IN ('Queued', 'NotNow')`, uuid)
	mustQueue(t, err)
	next, answered, err := d.s.ReportResult(context.Background(), d.ch, store.Result{Status: status, CommandUUID: uuid,
		Raw: result, JSON: result})
	if err != nil || answered == nil {
		t.Fatalf("%s for %s: answered %+v, %v", status, uuid, answered, err)
	}
	return next
}

func (d secretDevice) secret(t *testing.T, uuid, column string) string {
	t.Helper()
	var plain []byte
	mustQueue(t, pgx.BeginFunc(context.Background(), d.s.Pool(), func(tx pgx.Tx) error {
		var err error
		plain, err = d.s.OpenCommandSecret(context.Background(), uuid, column)
		return err
	}))
	return string(plain)
}

func (d secretDevice) lockPIN(t *testing.T) string {
	t.Helper()
	var plain []byte
	mustQueue(t, pgx.BeginFunc(context.Background(), d.s.Pool(), func(tx pgx.Tx) error {
		var err error
		plain, err = d.s.OpenDeviceSecret(context.Background(), d.id, "lock_pin_sealed")
		return err
	}))
	return string(plain)
}

// TestEachPendingLockKeepsItsOwnPIN: with two locks pending, the device runs
// the first; its PIN becomes the device's lockPin when acknowledged and both
// PINs stay readable on their commands. A lock cancelled before it was sent
// keeps no PIN.
func TestEachPendingLockKeepsItsOwnPIN(t *testing.T) {
	t.Parallel()
	d := enrolledDevice(t, pgtest.New(t), "PIN-TWO", nil)
	first := d.queue(t, "DeviceLock", map[string]any{"PIN": "111111"})
	second := d.queue(t, "EraseDevice", map[string]any{"PIN": "222222"})
	next, err := d.s.Idle(context.Background(), d.ch)
	if err != nil || next.UUID != first || !bytes.Contains(next.Body, []byte("111111")) {
		t.Fatalf("Idle served %q (%v): want the first lock with its PIN", next.UUID, err)
	}
	next = d.answer(t, first, "Acknowledged", nil)
	if next.UUID != second || !bytes.Contains(next.Body, []byte("222222")) {
		t.Fatalf("after the first answer: %q, want the erase with its PIN", next.UUID)
	}
	if got := d.lockPIN(t); got != "111111" {
		t.Fatalf("device lockPin = %q, want the PIN of the lock it ran", got)
	}
	if a, b := d.secret(t, first, store.PINColumn), d.secret(t, second, store.PINColumn); a != "111111" || b != "222222" {
		t.Fatalf("command PINs = %q, %q", a, b)
	}
	d.answer(t, second, "Acknowledged", nil)
	if got := d.lockPIN(t); got != "222222" {
		t.Fatalf("device lockPin after the erase = %q", got)
	}

	unsent := d.queue(t, "DeviceLock", map[string]any{"PIN": "333333"})
	if _, err := cancelCommand(context.Background(), d.s, unsent); err != nil {
		t.Fatal(err)
	}
	if got := d.secret(t, unsent, store.PINColumn); got != "" {
		t.Fatalf("a lock never sent keeps PIN %q", got)
	}
	if d.secret(t, first, store.PINColumn) != "111111" || d.lockPIN(t) != "222222" {
		t.Fatal("a cancelled lock touched other PINs")
	}
}

// TestSecretCommandsAreSealedAndServedOnlyToTheDevice: a command that may
// carry a secret is never in the clear at rest, the device gets it whole,
// and once answered nothing of it is left; other commands stay readable.
func TestSecretCommandsAreSealedAndServedOnlyToTheDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	d := enrolledDevice(t, s, "SEALED-1", nil)
	recovery := d.queue(t, "SetRecoveryLock", map[string]any{"NewPassword": "recovery-pw-4711"})
	list := d.queue(t, "ProfileList", nil)
	var clear, sealed int
	mustQueue(t, s.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE position('recovery-pw-4711'::bytea IN command) > 0
		OR command_sealed LIKE '%recovery-pw-4711%'), count(command_sealed) FROM mdm_device_commands WHERE uuid = $1`,
		recovery).Scan(&clear, &sealed))
	if clear != 0 || sealed != 1 {
		t.Fatalf("SetRecoveryLock at rest: %d in clear, %d sealed", clear, sealed)
	}
	next, err := s.Idle(ctx, d.ch)
	if err != nil || next.UUID != recovery || !bytes.Contains(next.Body, []byte("recovery-pw-4711")) {
		t.Fatalf("Idle served %q (%v): want the SetRecoveryLock in the clear", next.UUID, err)
	}
	d.answer(t, recovery, "NotNow", nil)
	if next, _ := s.Idle(ctx, d.ch); next.UUID != recovery || !bytes.Contains(next.Body, []byte("recovery-pw-4711")) {
		t.Fatalf("a NotNow SetRecoveryLock came back as %q", next.UUID)
	}
	if next := d.answer(t, recovery, "Acknowledged", nil); next.UUID != list || !bytes.Contains(next.Body, []byte("ProfileList")) {
		t.Fatalf("after the answer: %q, want the ProfileList in the clear", next.UUID)
	}
	var left int
	mustQueue(t, s.Pool().QueryRow(ctx, `SELECT length(command) + coalesce(length(command_sealed), 0)
		FROM mdm_device_commands WHERE uuid = $1`, recovery).Scan(&left))
	if left != 0 {
		t.Fatalf("an answered SetRecoveryLock keeps %d bytes of its command", left)
	}

	// The clear path refuses such commands rather than store them as given.
	uuid, body, err := mdmproto.NewCommand("SetFirmwarePassword", map[string]any{"NewPassword": "x"})
	mustQueue(t, err)
	err = s.Tx(ctx, func(q *store.Queries) error {
		_, err := q.EnqueueCommand(ctx, d.id, uuid, "SetFirmwarePassword", body, "test")
		return err
	})
	if !errors.Is(err, store.ErrMustSeal) {
		t.Fatalf("EnqueueCommand(SetFirmwarePassword) = %v, want ErrMustSeal", err)
	}
}

// TestSecretAnswersAreSealed: a SecurityInfo answer (the escrowed FileVault
// key) is stored sealed and opens for its command only; a ProfileList answer
// stays readable JSON.
func TestSecretAnswersAreSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	d := enrolledDevice(t, s, "SEALED-2", nil)
	info := d.queue(t, "SecurityInfo", nil)
	list := d.queue(t, "ProfileList", nil)
	secretJSON := []byte(`{"SecurityInfo":{"FDE_PersonalRecoveryKeyCMS":"prk-cms-0815"}}`)
	d.answer(t, info, "Acknowledged", secretJSON)
	d.answer(t, list, "Acknowledged", []byte(`{"ProfileList":[]}`))
	cmds, _, err := s.ListDeviceCommands(ctx, d.id, "", store.Page{First: 10})
	mustQueue(t, err)
	for _, c := range cmds {
		switch c.UUID {
		case info:
			if !c.ResultSealed || c.Result != nil {
				t.Fatalf("SecurityInfo answer: sealed %v, clear %s", c.ResultSealed, c.Result)
			}
		case list:
			if c.ResultSealed || !bytes.Contains(c.Result, []byte("ProfileList")) {
				t.Fatalf("ProfileList answer: sealed %v, clear %s", c.ResultSealed, c.Result)
			}
		}
	}
	if got := d.secret(t, info, store.ResultColumn); got != string(secretJSON) {
		t.Fatalf("opened SecurityInfo answer = %s", got)
	}
	var clear int
	mustQueue(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE result::text LIKE '%prk-cms-0815%'
		OR position('prk-cms-0815'::bytea IN coalesce(result_plist, '')) > 0`).Scan(&clear))
	if clear != 0 {
		t.Fatalf("%d rows hold the SecurityInfo answer in the clear", clear)
	}
}
