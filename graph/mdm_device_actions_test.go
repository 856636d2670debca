package graph_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/seal"
)

const (
	lockMutation = `mutation($id: ID!, $in: LockDeviceInput) {
  lockDevice(id: $id, input: $in) { uuid requestType status queuedBy } }`
	eraseMutation = `mutation($id: ID!, $in: EraseDeviceInput) {
  eraseDevice(id: $id, input: $in) { uuid requestType status queuedBy } }`
)

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

// queuedCommand is the command plist stored for uuid, as the device will get it.
func queuedCommand(t *testing.T, api *testAPI, uuid string) map[string]any {
	t.Helper()
	var body []byte
	var sealed *string
	must(t, api.store.Pool().QueryRow(context.Background(),
		"SELECT command, command_sealed FROM mdm_device_commands WHERE uuid = $1", uuid).Scan(&body, &sealed))
	if sealed != nil {
		var err error
		body, err = api.store.Sealer().Open(*sealed, seal.Place{Table: "mdm_device_commands", Column: "command_sealed", RowID: uuid})
		must(t, err)
	}
	var c mdmproto.Command
	must(t, mdmproto.UnmarshalPlist(body, &c))
	if c.CommandUUID != uuid {
		t.Fatalf("stored command has CommandUUID %q, want %q", c.CommandUUID, uuid)
	}
	return c.Command
}

// sealedPIN is the PIN sealed with a command, as stored.
func sealedPIN(t *testing.T, api *testAPI, uuid string) *string {
	t.Helper()
	var sealed *string
	must(t, api.store.Pool().QueryRow(context.Background(),
		"SELECT pin_sealed FROM mdm_device_commands WHERE uuid = $1", uuid).Scan(&sealed))
	return sealed
}

// deviceAnswers makes a device fetch its next command and acknowledge it, as
// a device does; it returns the UUID it was served.
func deviceAnswers(t *testing.T, api *testAPI, id int64) string {
	t.Helper()
	return answerNext(t, api, id, nil)
}

// answerWith has the device acknowledge its next command, uuid, with a result.
func answerWith(t *testing.T, api *testAPI, id int64, uuid, result string) {
	t.Helper()
	if got := answerNext(t, api, id, []byte(result)); got != uuid {
		t.Fatalf("device %d answered %s, want %s", id, got, uuid)
	}
}

func answerNext(t *testing.T, api *testAPI, id int64, result []byte) string {
	t.Helper()
	ctx := context.Background()
	var udid string
	must(t, api.store.Pool().QueryRow(ctx, `UPDATE enrolled_devices SET identity_cert_sha256 = sha256(udid::bytea),
		authenticated_at = coalesce(authenticated_at, now()), token_updated = true WHERE id = $1 RETURNING udid`, id).Scan(&udid))
	ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: udid}, CertHash: sha256Of(udid)}
	next, err := api.store.Idle(ctx, ch)
	must(t, err)
	if next.UUID == "" {
		t.Fatalf("device %d has no command to answer", id)
	}
	if _, answered, err := api.store.ReportResult(ctx, ch, store.Result{Status: "Acknowledged", CommandUUID: next.UUID,
		JSON: result}); err != nil || answered == nil {
		t.Fatalf("acknowledge %s: answered %+v, %v", next.UUID, answered, err)
	}
	return next.UUID
}

func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func queueAction(t *testing.T, api *testAPI, tok, mutation string, id int64, in map[string]any) commandNode {
	t.Helper()
	var out struct{ LockDevice, EraseDevice *commandNode }
	api.query(tok, mutation, map[string]any{"id": strconv.FormatInt(id, 10), "in": in}).decode(t, &out)
	c := out.LockDevice
	if c == nil {
		c = out.EraseDevice
	}
	if c.Status != "QUEUED" || !strings.HasPrefix(c.QueuedBy, "token:") {
		t.Fatalf("queued command = %+v", c)
	}
	return *c
}

func TestLockDeviceGeneratesASealedPINForMacs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	mac := addDevices(t, api.store, 1, "macOS", nil)[0]
	tok := api.token("mdm.add_devicecommand", "mdm.view_enrolleddevice")

	c := queueAction(t, api, tok, lockMutation, mac, map[string]any{"message": "Lost: call", "phoneNumber": "+49 30 1234"})
	cmd := queuedCommand(t, api, c.UUID)
	pin, _ := cmd["PIN"].(string)
	if c.RequestType != "DeviceLock" || cmd["RequestType"] != "DeviceLock" || cmd["Message"] != "Lost: call" ||
		cmd["PhoneNumber"] != "+49 30 1234" || !sixDigits.MatchString(pin) {
		t.Fatalf("queued DeviceLock = %v", cmd)
	}
	sealed := sealedPIN(t, api, c.UUID)
	if sealed == nil || strings.Contains(*sealed, pin) {
		t.Fatalf("lock_pin_sealed = %v: want the PIN sealed", sealed)
	}
	var leaks int
	must(t, api.store.Pool().QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE data::text LIKE '%' || $1 || '%'", pin).Scan(&leaks))
	if leaks != 0 {
		t.Fatalf("%d audit events carry the PIN", leaks)
	}
	var lockEvents int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device.lock'
		AND object_id = $1 AND data->>'command_uuid' = $2 AND (data->>'pin_stored')::boolean`,
		strconv.FormatInt(mac, 10), c.UUID).Scan(&lockEvents))
	if lockEvents != 1 {
		t.Fatalf("%d device.lock audit events, want 1", lockEvents)
	}

	// A PIN the caller chose is sent and stored as given, with its own command.
	c = queueAction(t, api, tok, lockMutation, mac, map[string]any{"pin": "012345"})
	if cmd := queuedCommand(t, api, c.UUID); cmd["PIN"] != "012345" || cmd["Message"] != nil {
		t.Fatalf("queued DeviceLock with a PIN = %v", cmd)
	}

	// Without input at all, a Mac still gets a PIN.
	c = queueAction(t, api, tok, lockMutation, mac, nil)
	if cmd := queuedCommand(t, api, c.UUID); !sixDigits.MatchString(cmd["PIN"].(string)) {
		t.Fatalf("queued DeviceLock without input = %v", cmd)
	}

	// iPhones have no Find My PIN: none is generated and none is accepted.
	phone := addDevices(t, api.store, 1, "iOS", nil)[0]
	c = queueAction(t, api, tok, lockMutation, phone, map[string]any{"message": "hi"})
	if cmd := queuedCommand(t, api, c.UUID); cmd["PIN"] != nil || cmd["Message"] != "hi" || sealedPIN(t, api, c.UUID) != nil {
		t.Fatalf("queued DeviceLock for an iPhone = %v", cmd)
	}
	res := api.query(tok, lockMutation, map[string]any{"id": strconv.FormatInt(phone, 10), "in": map[string]any{"pin": "123456"}})
	if res.code() != graph.CodeBadUserInput {
		t.Fatalf("PIN for an iPhone: %+v", res.Errors)
	}
}

func TestLockPinRevealNeedsItsPermissionAndIsAudited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	mac := addDevices(t, api.store, 1, "macOS", nil)[0]
	queueAction(t, api, api.token("mdm.add_devicecommand"), lockMutation, mac, map[string]any{"pin": "424242"})
	deviceAnswers(t, api, mac) // lockPin is the PIN of the lock the device ran
	q := `query($id: ID!) { device(id: $id) { serialNumber lockPin } }`
	vars := map[string]any{"id": strconv.FormatInt(mac, 10)}

	res := api.query(api.token("mdm.view_enrolleddevice", "mdm.view_filevault_prk"), q, vars)
	if res.code() != graph.CodeForbidden {
		t.Fatalf("lockPin without mdm.view_lock_pin: %+v", res.Errors)
	}
	var reveals int
	countReveals := func() {
		must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device.reveal_secret'
			AND object_id = $1 AND data->>'secret' = 'lock_pin_sealed'`, vars["id"]).Scan(&reveals))
	}
	countReveals()
	if reveals != 0 {
		t.Fatalf("a refused read was audited as a reveal (%d)", reveals)
	}
	tok := api.token("mdm.view_enrolleddevice", "mdm.view_lock_pin")
	for i := 1; i <= 2; i++ {
		var out struct{ Device struct{ LockPin *string } }
		api.query(tok, q, vars).decode(t, &out)
		if out.Device.LockPin == nil || *out.Device.LockPin != "424242" {
			t.Fatalf("lockPin = %v", out.Device.LockPin)
		}
		countReveals()
		if reveals != i {
			t.Fatalf("%d reveal audit events after %d reads", reveals, i)
		}
	}

	// A device without a PIN reads null and records no reveal.
	other := addDevices(t, api.store, 1, "macOS", nil)[0]
	var out struct{ Device struct{ LockPin *string } }
	api.query(tok, q, map[string]any{"id": strconv.FormatInt(other, 10)}).decode(t, &out)
	if out.Device.LockPin != nil {
		t.Fatalf("lockPin of a device never locked = %q", *out.Device.LockPin)
	}
}

func TestEraseDeviceKeysFollowThePlatform(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	tok := api.token("mdm.change_enrolleddevice")
	intel := addDevices(t, api.store, 1, "macOS", nil)[0]
	silicon := addDevices(t, api.store, 1, "macOS", nil)[0]
	_, err := api.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET apple_silicon = true WHERE id = $1", silicon)
	must(t, err)
	phone := addDevices(t, api.store, 1, "iPadOS", nil)[0]

	// An Intel Mac gets a generated PIN, sealed.
	c := queueAction(t, api, tok, eraseMutation, intel, map[string]any{"obliterationBehavior": "DO_NOT_OBLITERATE"})
	cmd := queuedCommand(t, api, c.UUID)
	pin, _ := cmd["PIN"].(string)
	if c.RequestType != "EraseDevice" || cmd["RequestType"] != "EraseDevice" || !sixDigits.MatchString(pin) ||
		cmd["ObliterationBehavior"] != "DoNotObliterate" || len(cmd) != 3 {
		t.Fatalf("queued EraseDevice for an Intel Mac = %v", cmd)
	}
	if sealed := sealedPIN(t, api, c.UUID); sealed == nil || strings.Contains(*sealed, pin) {
		t.Fatalf("lock_pin_sealed = %v: want the PIN sealed", sealed)
	}

	// Apple silicon needs no PIN; a given one is still sent and kept.
	c = queueAction(t, api, tok, eraseMutation, silicon, nil)
	if cmd := queuedCommand(t, api, c.UUID); len(cmd) != 1 || sealedPIN(t, api, c.UUID) != nil {
		t.Fatalf("queued EraseDevice for Apple silicon = %v", cmd)
	}
	c = queueAction(t, api, tok, eraseMutation, silicon, map[string]any{"pin": "000111", "obliterationBehavior": "ALWAYS"})
	if cmd := queuedCommand(t, api, c.UUID); cmd["PIN"] != "000111" || cmd["ObliterationBehavior"] != "Always" || sealedPIN(t, api, c.UUID) == nil {
		t.Fatalf("queued EraseDevice with a PIN for Apple silicon = %v", cmd)
	}

	// iOS and iPadOS take the data plan and proximity keys, as booleans.
	c = queueAction(t, api, tok, eraseMutation, phone, map[string]any{"preserveDataPlan": true, "disallowProximitySetup": false})
	if cmd := queuedCommand(t, api, c.UUID); cmd["PreserveDataPlan"] != true || cmd["DisallowProximitySetup"] != false ||
		cmd["PIN"] != nil || len(cmd) != 3 {
		t.Fatalf("queued EraseDevice for an iPad = %v", cmd)
	}

	checkEraseRefusals(t, api, tok, intel, silicon, phone)

	// Erasing takes more than the right to queue commands.
	res := api.query(api.token("mdm.add_devicecommand"), eraseMutation, map[string]any{"id": strconv.FormatInt(intel, 10)})
	if res.code() != graph.CodeForbidden {
		t.Fatalf("eraseDevice with mdm.add_devicecommand only: %+v", res.Errors)
	}
}

// checkEraseRefusals: keys for the wrong platform and unknown values queue
// nothing (the 4 commands queued before stay the only ones).
func checkEraseRefusals(t *testing.T, api *testAPI, tok string, intel, silicon, phone int64) {
	t.Helper()
	for name, tc := range map[string]struct {
		id int64
		in map[string]any
	}{
		"PIN for an iPad":                 {phone, map[string]any{"pin": "123456"}},
		"obliteration for an iPad":        {phone, map[string]any{"obliterationBehavior": "DEFAULT"}},
		"data plan for a Mac":             {intel, map[string]any{"preserveDataPlan": true}},
		"proximity setup for a Mac":       {silicon, map[string]any{"disallowProximitySetup": true}},
		"unknown obliteration behavior":   {intel, map[string]any{"obliterationBehavior": "Sometimes"}},
		"erase with lockDevice's message": {intel, map[string]any{"message": "x"}},
	} {
		res := api.query(tok, eraseMutation, map[string]any{"id": strconv.FormatInt(tc.id, 10), "in": tc.in})
		// The last two never reach orchard: gqlgen refuses the variables with its own code.
		if res.code() != graph.CodeBadUserInput && (res.code() == "" || res.code() == graph.CodeInternal || strings.Contains(name, " for ")) {
			t.Errorf("%s: code %q (%+v), want a refusal", name, res.code(), res.Errors)
		}
	}
	var n int
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM mdm_device_commands").Scan(&n))
	if n != 4 {
		t.Fatalf("%d commands queued, want the 4 accepted ones", n)
	}
}

func TestDeviceActionsRefuseBadInputAndQueueNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	ids := addDevices(t, api.store, 3, "macOS", nil)
	mac, blocked, gone := strconv.FormatInt(ids[0], 10), strconv.FormatInt(ids[1], 10), strconv.FormatInt(ids[2], 10)
	_, err := api.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET blocked_at = now() WHERE id = $1", ids[1])
	must(t, err)
	_, err = api.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET checkout_at = now() WHERE id = $1", ids[2])
	must(t, err)
	tok := api.token("mdm.*")
	for _, mutation := range []string{lockMutation, eraseMutation} {
		for _, tc := range []struct {
			id   string
			in   map[string]any
			code string
			msg  string
		}{
			{mac, map[string]any{"pin": "12345"}, graph.CodeBadUserInput, "6 digits"},
			{mac, map[string]any{"pin": "1234567"}, graph.CodeBadUserInput, "6 digits"},
			{mac, map[string]any{"pin": "12a456"}, graph.CodeBadUserInput, "6 digits"},
			{mac, map[string]any{"pin": "１２３４５６"}, graph.CodeBadUserInput, "6 digits"},
			{mac, map[string]any{"pin": ""}, graph.CodeBadUserInput, "6 digits"},
			{"abc", nil, graph.CodeBadUserInput, "malformed"},
			{"-4", nil, graph.CodeBadUserInput, "malformed"},
			{"99999", nil, graph.CodeNotFound, "no device"},
			{blocked, nil, graph.CodeBadUserInput, "blocked"},
			{gone, nil, graph.CodeBadUserInput, "checked out"},
		} {
			res := api.query(tok, mutation, map[string]any{"id": tc.id, "in": tc.in})
			if res.code() != tc.code || !strings.Contains(res.Errors[0].Message, tc.msg) {
				t.Errorf("%.25s id %s input %v: %+v, want %s mentioning %q", mutation, tc.id, tc.in, res.Errors, tc.code, tc.msg)
			}
		}
	}
	var commands, pins, audits int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM mdm_device_commands),
		(SELECT count(*) FROM enrolled_devices WHERE lock_pin_sealed IS NOT NULL),
		(SELECT count(*) FROM audit_events WHERE action <> 'api_token.create')`).Scan(&commands, &pins, &audits))
	if commands != 0 || pins != 0 || audits != 0 {
		t.Fatalf("refused input changed state: %d commands, %d PINs, %d audit events", commands, pins, audits)
	}
}

func TestDeviceActionsPushInTheirTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var (
		mu       sync.Mutex
		pushed   []int64
		failPush atomic.Bool
	)
	api := newTestAPIWithPush(t, func(ctx context.Context, tx pgx.Tx, ids []int64) error {
		// The push sees the command and the PIN of its own transaction.
		var queued, sealed int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM mdm_device_commands WHERE device_id = $1 AND status = 'Queued'),
				(SELECT count(*) FROM mdm_device_commands WHERE device_id = $1 AND pin_sealed IS NOT NULL)`, ids[0]).Scan(&queued, &sealed)
		if err != nil {
			return err
		}
		if queued == 0 || sealed == 0 {
			return errors.New("push enqueued outside the command's transaction")
		}
		mu.Lock()
		pushed = append(pushed, ids...)
		mu.Unlock()
		if failPush.Load() {
			return errors.New("push queue unavailable")
		}
		return nil
	})
	ids := addDevices(t, api.store, 2, "macOS", nil)
	tok := api.token("mdm.*")
	queueAction(t, api, tok, lockMutation, ids[0], nil)
	queueAction(t, api, tok, eraseMutation, ids[0], nil)
	mu.Lock()
	if len(pushed) != 2 || pushed[0] != ids[0] || pushed[1] != ids[0] {
		t.Fatalf("pushed %v, want device %d twice", pushed, ids[0])
	}
	mu.Unlock()

	// A push that cannot be queued takes the command and the PIN with it.
	failPush.Store(true)
	res := api.query(tok, lockMutation, map[string]any{"id": strconv.FormatInt(ids[1], 10)})
	if res.code() != graph.CodeInternal || strings.Contains(res.Errors[0].Message, "push queue") {
		t.Fatalf("failed push: %+v", res.Errors)
	}
	var commands int
	must(t, api.store.Pool().QueryRow(ctx, "SELECT count(*) FROM mdm_device_commands WHERE device_id = $1", ids[1]).Scan(&commands))
	if commands != 0 {
		t.Fatalf("a failed push left %d commands", commands)
	}
}
