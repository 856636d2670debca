package endpoint_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
)

func TestEveryReportStatusIsStored(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	ack := ts.queue(id, "SecurityInfo", nil)
	failed := ts.queue(id, "InstallProfile", map[string]any{"Payload": []byte("not a profile")})
	unreadable := ts.queue(id, "RestartDevice", nil)

	cmd, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
	if err != nil || cmd == nil || cmd.UUID != ack {
		t.Fatalf("first command: %+v %v", cmd, err)
	}
	cmd, err = d.Report(ctx, mdmproto.StatusAcknowledged, cmd.UUID, d.DefaultResult(cmd))
	if err != nil || cmd == nil || cmd.UUID != failed {
		t.Fatalf("second command: %+v %v", cmd, err)
	}
	chain := []map[string]any{{"ErrorCode": 4001, "ErrorDomain": "MCProfileErrorDomain",
		"LocalizedDescription": "The profile is malformed.", "USEnglishDescription": "The profile is malformed."}}
	cmd, err = d.Report(ctx, mdmproto.StatusError, cmd.UUID, map[string]any{"ErrorChain": chain})
	if err != nil || cmd == nil || cmd.UUID != unreadable {
		t.Fatalf("third command: %+v %v", cmd, err)
	}
	cmd, err = d.Report(ctx, mdmproto.StatusCommandFormatError, cmd.UUID, nil)
	if err != nil || cmd != nil {
		t.Fatalf("after the last command: %+v %v, want an empty answer", cmd, err)
	}

	if st, _ := ts.commandStatus(ack); st != "Acknowledged" {
		t.Errorf("SecurityInfo is %s", st)
	}
	row := ts.deviceRow(d.UDID)
	if !row.FileVaultEnabled || !row.ActivationLockManageable || !row.UserApprovedEnrollment {
		t.Errorf("SecurityInfo did not update the device: %+v", row)
	}
	st, ec := ts.commandStatus(failed)
	var got []mdmproto.ErrorChainItem
	if st != "Error" || json.Unmarshal(ec, &got) != nil || len(got) != 1 || got[0].ErrorCode != 4001 || got[0].ErrorDomain != "MCProfileErrorDomain" {
		t.Errorf("Error report: status %s chain %s", st, ec)
	}
	if st, _ := ts.commandStatus(unreadable); st != "CommandFormatError" {
		t.Errorf("RestartDevice is %s", st)
	}
}

// TestNotNowWaitsForTheNextExchange: a NotNow command is not offered again in
// the exchange that deferred it, only from the device's next Idle.
func TestNotNowWaitsForTheNextExchange(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	a := ts.queue(id, "InstalledApplicationList", nil)
	b := ts.queue(id, "ProfileList", nil)

	cmd, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
	if err != nil || cmd.UUID != a {
		t.Fatalf("Idle: %+v %v", cmd, err)
	}
	cmd, err = d.Report(ctx, mdmproto.StatusNotNow, a, nil)
	if err != nil || cmd == nil || cmd.UUID != b {
		t.Fatalf("after NotNow: %+v %v, want the next command", cmd, err)
	}
	cmd, err = d.Report(ctx, mdmproto.StatusAcknowledged, b, nil)
	if err != nil || cmd != nil {
		t.Fatalf("NotNow command offered again in the same exchange: %+v %v", cmd, err)
	}
	if st, _ := ts.commandStatus(a); st != "NotNow" {
		t.Fatalf("deferred command is %s", st)
	}
	cmd, err = d.Report(ctx, mdmproto.StatusIdle, "", nil)
	if err != nil || cmd == nil || cmd.UUID != a {
		t.Fatalf("next Idle: %+v %v, want the NotNow command again", cmd, err)
	}
	// Deferred again and alone: the exchange ends empty.
	if cmd, err = d.Report(ctx, mdmproto.StatusNotNow, a, nil); err != nil || cmd != nil {
		t.Fatalf("second NotNow: %+v %v", cmd, err)
	}
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := ts.commandStatus(a); st != "Acknowledged" {
		t.Fatalf("command is %s after the device could run it", st)
	}
}

func TestUnansweredCommandIsOfferedAgainAndCancelledIsNot(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	a := ts.queue(id, "DeviceLocation", nil)
	b := ts.queue(id, "ProfileList", nil)
	if _, err := cancelCommand(ctx, ts.store, b); err != nil {
		t.Fatal(err)
	}
	if _, err := cancelCommand(ctx, ts.store, b); err == nil {
		t.Fatal("cancelled a cancelled command")
	}
	for range 2 { // the answer to the first offer was lost
		cmd, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
		if err != nil || cmd == nil || cmd.UUID != a {
			t.Fatalf("Idle: %+v %v, want %s", cmd, err, a)
		}
	}
	if _, err := cancelCommand(ctx, ts.store, a); err == nil {
		t.Fatal("cancelled a command already sent")
	}
	cmd, err := d.Report(ctx, mdmproto.StatusAcknowledged, a, nil)
	if err != nil || cmd != nil {
		t.Fatalf("cancelled command was offered: %+v %v", cmd, err)
	}
	// A result for a command the device was never given changes nothing.
	if _, err := d.Report(ctx, mdmproto.StatusAcknowledged, "00000000-0000-0000-0000-000000000000", nil); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = ts.store.Pool().QueryRow(ctx, "SELECT count(*) FROM mdm_device_commands WHERE status = 'Acknowledged'").Scan(&n)
	if n != 1 {
		t.Fatalf("%d acknowledged commands, want 1", n)
	}
}

func TestBlockedDeviceIsReleasedAndCannotReenroll(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	block := func(blocked bool) {
		err := pgx.BeginFunc(ctx, ts.store.Pool(), func(tx pgx.Tx) error {
			_, err := ts.store.SetDeviceBlocked(ctx, id, blocked)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	block(true)
	before := ts.snapshot()
	_, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
	if got := status(t, err); got != http.StatusUnauthorized {
		t.Errorf("Idle of a blocked device: HTTP %d, want 401", got)
	}
	_, err = d.Checkin(ctx, d.TokenUpdateMessage())
	if got := status(t, err); got != http.StatusUnauthorized {
		t.Errorf("TokenUpdate of a blocked device: HTTP %d, want 401", got)
	}
	if ts.snapshot() != before {
		t.Error("a blocked device's Idle or TokenUpdate changed the database")
	}
	// Re-enrolling with a fresh identity is refused too.
	if err := d.FetchProfile(ctx, ts.enrollURL); err != nil {
		t.Fatal(err)
	}
	if err := d.RequestIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	before = ts.snapshot()
	_, err = d.Checkin(ctx, d.AuthenticateMessage())
	if got := status(t, err); got != http.StatusUnauthorized {
		t.Errorf("Authenticate of a blocked device: HTTP %d, want 401", got)
	}
	if ts.snapshot() != before {
		t.Error("a blocked device's Authenticate changed the database")
	}
	block(false)
	if err := d.Enroll(ctx, ts.enrollURL); err != nil {
		t.Fatalf("re-enrolling once unblocked: %v", err)
	}
	if row := ts.deviceRow(d.UDID); row.ID != id || row.BlockedAt != nil {
		t.Fatalf("after re-enrollment: %+v", row)
	}
}

// TestReportsCountOnlyForCommandsSent: a result for a command that was never
// sent to the device, is another device's, waits after a NotNow, or was
// already answered changes nothing; the device still gets its next command.
func TestReportsCountOnlyForCommandsSent(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	a, b := ts.enrolled(), ts.enrolled()
	info := func(name string) map[string]any {
		return map[string]any{"QueryResponses": map[string]any{"DeviceName": name}}
	}
	unsent := ts.queue(ts.deviceRow(a.UDID).ID, "DeviceInformation", nil)
	others := ts.queue(ts.deviceRow(b.UDID).ID, "DeviceInformation", nil)
	if cmd, err := b.Report(ctx, mdmproto.StatusIdle, "", nil); err != nil || cmd.UUID != others {
		t.Fatalf("b's Idle: %+v %v", cmd, err)
	}
	expect := func(what, uuid, status string) {
		t.Helper()
		if st, _ := ts.commandStatus(uuid); st != status {
			t.Errorf("%s: command is %s, want %s", what, st, status)
		}
		if name := ts.deviceRow(a.UDID).Name; name == "forged" {
			t.Errorf("%s: the forged result updated the device", what)
		}
	}

	// Never sent: refused, then sent as the next command.
	cmd, err := a.Report(ctx, mdmproto.StatusAcknowledged, unsent, info("forged"))
	if err != nil || cmd == nil || cmd.UUID != unsent {
		t.Fatalf("result for an unsent command: %+v %v, want that command next", cmd, err)
	}
	expect("result before sending", unsent, "Sent")
	// Another device's command, sent to that device.
	if _, err := a.Report(ctx, mdmproto.StatusAcknowledged, others, info("forged")); err != nil {
		t.Fatal(err)
	}
	expect("another device's command", others, "Sent")
	// Deferred by NotNow, not sent again yet.
	if _, err := a.Report(ctx, mdmproto.StatusNotNow, unsent, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Report(ctx, mdmproto.StatusAcknowledged, unsent, info("forged")); err != nil {
		t.Fatal(err)
	}
	expect("result after NotNow before resending", unsent, "NotNow")
	// Sent again and answered: a second answer changes nothing.
	if cmd, err := a.Report(ctx, mdmproto.StatusIdle, "", nil); err != nil || cmd == nil || cmd.UUID != unsent {
		t.Fatalf("Idle after NotNow: %+v %v", cmd, err)
	}
	if _, err := a.Report(ctx, mdmproto.StatusAcknowledged, unsent, info("real")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Report(ctx, mdmproto.StatusError, unsent, info("forged")); err != nil {
		t.Fatal(err)
	}
	expect("second answer", unsent, "Acknowledged")
	if name := ts.deviceRow(a.UDID).Name; name != "real" {
		t.Errorf("device name %q after the real answer", name)
	}
}
