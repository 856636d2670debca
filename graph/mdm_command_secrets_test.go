package graph_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/graph"
)

const commandPINsQuery = `query($id: ID!) { device(id: $id) { lockPin
  commands { edges { node { uuid requestType pin } } } } }`

type commandPINs struct {
	Device struct {
		LockPin  *string
		Commands struct {
			Edges []struct {
				Node struct {
					UUID, RequestType string
					Pin               *string
				}
			}
		}
	}
}

func (p commandPINs) pinOf(uuid string) *string {
	for _, e := range p.Device.Commands.Edges {
		if e.Node.UUID == uuid {
			return e.Node.Pin
		}
	}
	return nil
}

// TestSecondLockKeepsTheFirstPINRecoverable: lock then erase a Mac before it
// answers; it runs the lock. Device.lockPin is the lock's PIN (the one the
// Mac asks for), and each command shows its own PIN, each read audited.
func TestSecondLockKeepsTheFirstPINRecoverable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	mac := addDevices(t, api.store, 1, "macOS", nil)[0]
	tok := api.token("mdm.*")
	lock := queueAction(t, api, tok, lockMutation, mac, map[string]any{"pin": "111111"})
	erase := queueAction(t, api, tok, eraseMutation, mac, map[string]any{"pin": "222222"})
	if ran := deviceAnswers(t, api, mac); ran != lock.UUID {
		t.Fatalf("the device ran %s, want the lock %s", ran, lock.UUID)
	}
	vars := map[string]any{"id": strconv.FormatInt(mac, 10)}
	reader := api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand", "mdm.view_lock_pin")
	var got commandPINs
	api.query(reader, commandPINsQuery, vars).decode(t, &got)
	if got.Device.LockPin == nil || *got.Device.LockPin != "111111" {
		t.Fatalf("Device.lockPin = %v, want 111111: the PIN of the lock the Mac ran", got.Device.LockPin)
	}
	if p := got.pinOf(lock.UUID); p == nil || *p != "111111" {
		t.Fatalf("lock's pin = %v", p)
	}
	if p := got.pinOf(erase.UUID); p == nil || *p != "222222" {
		t.Fatalf("erase's pin = %v", p)
	}
	var reveals int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device_command.reveal_secret'
		AND object_id IN ($1, $2) AND data->>'secret' = 'pin_sealed'`, lock.UUID, erase.UUID).Scan(&reveals))
	if reveals != 2 {
		t.Fatalf("%d command PIN reveals audited, want 2", reveals)
	}

	// The PIN is a secret: the command list alone does not show it.
	res := api.query(api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand"), commandPINsQuery, vars)
	if res.code() != graph.CodeForbidden || strings.Contains(string(res.Data), "222222") {
		t.Fatalf("pin without mdm.view_lock_pin: %s %+v", res.Data, res.Errors)
	}

	deviceAnswers(t, api, mac)
	got = commandPINs{}
	api.query(reader, commandPINsQuery, vars).decode(t, &got)
	if got.Device.LockPin == nil || *got.Device.LockPin != "222222" || *got.pinOf(lock.UUID) != "111111" {
		t.Fatalf("after the erase: lockPin %v, lock's pin %v", got.Device.LockPin, got.pinOf(lock.UUID))
	}
}

// TestEnqueuedSecretsAreSealedAndSealedAnswersStillRead: a VerifyRecoveryLock
// queued through enqueueDeviceCommand is never stored in the clear and is
// gone once answered; a sealed SecurityInfo answer still reads through
// DeviceCommand.result, audited.
func TestEnqueuedSecretsAreSealedAndSealedAnswersStillRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	mac := addDevices(t, api.store, 1, "macOS", nil)[0]
	tok := api.token("mdm.*")
	const enqueue = `mutation($id: ID!, $type: String!, $payload: JSON) {
  enqueueDeviceCommand(deviceId: $id, requestType: $type, payload: $payload) { uuid } }`
	var out struct{ EnqueueDeviceCommand struct{ UUID string } }
	api.query(tok, enqueue, map[string]any{"id": strconv.FormatInt(mac, 10), "type": "VerifyRecoveryLock",
		"payload": map[string]any{"Password": "recovery-pw-0042"}}).decode(t, &out)
	leaked := func() int {
		var n int
		must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands
			WHERE position('recovery-pw-0042'::bytea IN command) > 0 OR command_sealed LIKE '%recovery-pw-0042%'`).Scan(&n))
		return n
	}
	if n := leaked(); n != 0 || queuedCommand(t, api, out.EnqueueDeviceCommand.UUID)["Password"] != "recovery-pw-0042" {
		t.Fatalf("queued VerifyRecoveryLock: %d rows hold the password in the clear", n)
	}
	deviceAnswers(t, api, mac)
	var left int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT length(command) + coalesce(length(command_sealed), 0)
		FROM mdm_device_commands WHERE uuid = $1`, out.EnqueueDeviceCommand.UUID).Scan(&left))
	if left != 0 || leaked() != 0 {
		t.Fatalf("an answered VerifyRecoveryLock keeps %d bytes of its command", left)
	}

	api.query(tok, enqueue, map[string]any{"id": strconv.FormatInt(mac, 10), "type": "SecurityInfo"}).decode(t, &out)
	answerWith(t, api, mac, out.EnqueueDeviceCommand.UUID, `{"SecurityInfo":{"FDE_PersonalRecoveryKeyCMS":"cms-77"}}`)
	const q = `query($id: ID!) { device(id: $id) { commands(first: 1) { edges { node { requestType result } } } } }`
	res := api.query(api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand"), q, map[string]any{"id": strconv.FormatInt(mac, 10)})
	if len(res.Errors) != 0 || !strings.Contains(string(res.Data), "cms-77") {
		t.Fatalf("sealed SecurityInfo answer: %s %+v", res.Data, res.Errors)
	}
	var reveals int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device_command.reveal_secret'
		AND object_id = $1 AND data->>'secret' = 'result_sealed'`, out.EnqueueDeviceCommand.UUID).Scan(&reveals))
	if reveals != 1 {
		t.Fatalf("%d answer reveals audited, want 1", reveals)
	}
}

// An ActivationLockBypassCode answer lifts Activation Lock: it is stored
// sealed, never in the clear, and reads only with its own permission, each
// read audited.
func TestActivationLockBypassCodeIsSealedAndReadWithItsPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	mac := addDevices(t, api.store, 1, "macOS", nil)[0]
	id := strconv.FormatInt(mac, 10)
	var out struct{ EnqueueDeviceCommand struct{ UUID string } }
	api.query(api.token("mdm.add_devicecommand"), `mutation($id: ID!) {
		enqueueDeviceCommand(deviceId: $id, requestType: "ActivationLockBypassCode") { uuid } }`,
		map[string]any{"id": id}).decode(t, &out)
	const code = "T3ST-C0DE-BYPA-SS42-XXXX-YYYY"
	answerWith(t, api, mac, out.EnqueueDeviceCommand.UUID, `{"ActivationLockBypassCode":"`+code+`"}`)
	var clear int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE uuid = $1
		AND (result IS NOT NULL OR position($2::bytea IN coalesce(result_plist, '')) > 0 OR result_sealed IS NULL)`,
		out.EnqueueDeviceCommand.UUID, []byte(code)).Scan(&clear))
	if clear != 0 {
		t.Fatal("the bypass code is stored in the clear")
	}

	const q = `query($id: ID!) { device(id: $id) { commands(first: 1) { edges { node { requestType result } } } } }`
	res := api.query(api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand"), q, map[string]any{"id": id})
	if res.code() != graph.CodeForbidden || strings.Contains(string(res.Data), code) {
		t.Fatalf("read without mdm.view_activation_lock_bypass_code: %s %+v", res.Data, res.Errors)
	}
	res = api.query(api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand", "mdm.view_activation_lock_bypass_code"),
		q, map[string]any{"id": id})
	if len(res.Errors) != 0 || !strings.Contains(string(res.Data), code) {
		t.Fatalf("read with the permission: %s %+v", res.Data, res.Errors)
	}
	var reveals int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device_command.reveal_secret'
		AND object_id = $1`, out.EnqueueDeviceCommand.UUID).Scan(&reveals))
	if reveals != 1 {
		t.Fatalf("%d reveals of the bypass code audited, want 1", reveals)
	}
}
