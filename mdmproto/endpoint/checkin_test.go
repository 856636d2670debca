package endpoint_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
)

func TestCheckinMessages(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	en := mdmproto.Enrollment{UDID: d.UDID}

	checkTokenUpdateStored(t, ctx, ts, d, id)

	t.Run("bootstrap token is escrowed sealed and given back", func(t *testing.T) {
		_, err := d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.SetBootstrapToken, Enrollment: en,
			BootstrapToken: []byte("bootstrap-secret")})
		if err != nil || !ts.deviceRow(d.UDID).BootstrapTokenEscrowed {
			t.Fatalf("SetBootstrapToken: %v", err)
		}
		out, err := d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.GetBootstrapToken, Enrollment: en})
		var got struct{ BootstrapToken []byte }
		if err != nil || plist.Unmarshal(out, &got) != nil || string(got.BootstrapToken) != "bootstrap-secret" {
			t.Fatalf("GetBootstrapToken: %q %v", out, err)
		}
	})

	checkRefusedCheckinMessages(t, ctx, ts, d, en)

	t.Run("POST works as PUT does", func(t *testing.T) {
		body, _ := plist.Marshal(map[string]any{"UDID": d.UDID, "Status": "Idle"})
		sig, err := mdmproto.Sign(body, d.Cert, d.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.raw(http.MethodPost, "/mdm/connect", "application/x-apple-aspen-mdm", body,
			map[string]string{mdmproto.SignatureHeader: sig}); got != http.StatusOK {
			t.Fatalf("POST Idle: HTTP %d", got)
		}
		if got := ts.raw(http.MethodGet, "/mdm/connect", "", nil, nil); got != http.StatusMethodNotAllowed {
			t.Fatalf("GET: HTTP %d, want 405", got)
		}
	})

	t.Run("check-out clears tokens and stops the command channel", func(t *testing.T) {
		uuid := ts.queue(id, "ProfileList", nil)
		if _, err := d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.CheckOut, Enrollment: en}); err != nil {
			t.Fatal(err)
		}
		row := ts.deviceRow(d.UDID)
		var magic string
		_ = ts.store.Pool().QueryRow(ctx, "SELECT push_magic FROM enrolled_devices WHERE id = $1", id).Scan(&magic)
		if row.CheckoutAt == nil || magic != "" || row.BootstrapTokenEscrowed {
			t.Fatalf("after CheckOut: %+v magic %q", row, magic)
		}
		if st, _ := ts.commandStatus(uuid); st != "Cancelled" {
			t.Fatalf("queued command is %s after CheckOut", st)
		}
		_, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
		if got := status(t, err); got != http.StatusForbidden {
			t.Fatalf("Idle after CheckOut: HTTP %d, want 403", got)
		}
	})
}

// checkTokenUpdateStored checks the enrollment's TokenUpdate stored the push magic and token and sealed the unlock token.
func checkTokenUpdateStored(t *testing.T, ctx context.Context, ts *testServer, d *devicesim.Device, id int64) {
	t.Helper()
	var magic string
	var token []byte
	var unlockSealed *string
	err := ts.store.Pool().QueryRow(ctx, `SELECT push_magic, push_token, unlock_token_sealed FROM enrolled_devices WHERE id = $1`, id).
		Scan(&magic, &token, &unlockSealed)
	if err != nil || magic != d.PushMagic || !bytes.Equal(token, d.PushToken) || unlockSealed == nil ||
		bytes.Contains([]byte(*unlockSealed), []byte("unlock-")) {
		t.Fatalf("after TokenUpdate: magic %q token %q unlock %v err %v", magic, token, unlockSealed, err)
	}
}

// checkRefusedCheckinMessages checks that unknown users, bad endpoints and unknown message types are refused without changing the database.
func checkRefusedCheckinMessages(t *testing.T, ctx context.Context, ts *testServer, d *devicesim.Device, en mdmproto.Enrollment) {
	t.Helper()
	for _, tc := range []struct {
		msg  mdmproto.CheckinMessage
		want int
	}{
		{mdmproto.CheckinMessage{MessageType: mdmproto.UserAuthenticate, Enrollment: mdmproto.Enrollment{UDID: d.UDID, UserID: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"}}, http.StatusGone},
		{mdmproto.CheckinMessage{MessageType: mdmproto.DeclarativeManagement, Enrollment: en, Endpoint: "nonsense"}, http.StatusBadRequest},
		{mdmproto.CheckinMessage{MessageType: mdmproto.GetToken, Enrollment: en, TokenServiceType: "com.apple.maid"}, http.StatusBadRequest},
		{mdmproto.CheckinMessage{MessageType: "Frobnicate", Enrollment: en}, http.StatusBadRequest},
	} {
		before := ts.snapshot()
		_, err := d.Checkin(ctx, &tc.msg)
		if got := status(t, err); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.msg.MessageType, got, tc.want)
		}
		if tc.msg.MessageType != mdmproto.UserAuthenticate && ts.snapshot() != before {
			t.Errorf("%s changed the database", tc.msg.MessageType)
		}
	}
}

func TestAuthenticateClearsQueueUntilTokenUpdate(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	uuid := ts.queue(id, "DeviceInformation", nil)

	if _, err := d.Checkin(ctx, d.AuthenticateMessage()); err != nil {
		t.Fatal(err)
	}
	if st, _ := ts.commandStatus(uuid); st != "Cancelled" {
		t.Fatalf("command is %s after a new Authenticate, want Cancelled", st)
	}
	_, err := d.Report(ctx, mdmproto.StatusIdle, "", nil)
	if got := status(t, err); got != http.StatusForbidden {
		t.Fatalf("Idle between Authenticate and TokenUpdate: HTTP %d, want 403", got)
	}
	if _, err := d.Checkin(ctx, d.TokenUpdateMessage()); err != nil {
		t.Fatal(err)
	}
	// The cancelled command stays cancelled: what comes is the new
	// enrollment's first inventory.
	if cmd, err := d.Report(ctx, mdmproto.StatusIdle, "", nil); err != nil || cmd == nil || cmd.UUID == uuid ||
		cmd.RequestType != "DeviceInformation" {
		t.Fatalf("Idle after TokenUpdate: %+v %v, want the first inventory", cmd, err)
	}
}

func TestUserChannel(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	user := mdmproto.Enrollment{UDID: d.UDID, UserID: "A1B2C3D4-0000-4000-8000-00000000A1B2", UserShortName: "ada", UserLongName: "Ada Lovelace"}

	if _, err := d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.TokenUpdate, Enrollment: user,
		Token: []byte("user-token"), PushMagic: "user-magic", Topic: d.Profile.Topic}); err != nil {
		t.Fatal(err)
	}
	users, err := ts.store.DeviceUsers(ctx, id)
	if err != nil || len(users) != 1 || users[0].UserID != "A1B2C3D4-0000-4000-8000-00000000A1B2" || users[0].LongName != "Ada Lovelace" {
		t.Fatalf("users = %+v, %v", users, err)
	}
	body, _ := plist.Marshal(map[string]any{"UDID": d.UDID, "UserID": "A1B2C3D4-0000-4000-8000-00000000A1B2", "Status": "Idle"})
	if out, err := d.Send(ctx, d.Profile.ServerURL, "application/x-apple-aspen-mdm", body); err != nil || len(out) != 0 {
		t.Fatalf("user channel Idle: %q %v", out, err)
	}
	if users, _ := ts.store.DeviceUsers(ctx, id); users[0].LastSeenAt == nil {
		t.Fatal("user channel Idle did not mark the user seen")
	}
	if _, err := d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.CheckOut, Enrollment: user}); err != nil {
		t.Fatal(err)
	}
	if users, _ := ts.store.DeviceUsers(ctx, id); len(users) != 0 {
		t.Fatalf("user channel still there after its CheckOut: %+v", users)
	}
	if ts.deviceRow(d.UDID).CheckoutAt != nil {
		t.Fatal("a user channel's CheckOut checked the device out")
	}
}

// lockedBuffer is a log sink safe to read while the server writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHostileUDIDIsAShortRefusal: a 1 MiB, path-like or markup UDID in
// Authenticate is a 400 that stores nothing and logs one short line.
func TestHostileUDIDIsAShortRefusal(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	ts := newServer(t, func(c *endpoint.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	d := ts.device()
	ctx := context.Background()
	if err := d.FetchProfile(ctx, ts.enrollURL); err != nil {
		t.Fatal(err)
	}
	if err := d.RequestIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	for _, udid := range []string{strings.Repeat("A", 1<<20), "../../../etc/passwd", "<img src=x onerror=alert(1)>"} {
		d.UDID = udid
		before := ts.snapshot()
		if _, err := d.Checkin(ctx, d.AuthenticateMessage()); status(t, err) != http.StatusBadRequest {
			t.Errorf("UDID %.40q: %v, want HTTP 400", udid, err)
		}
		if ts.snapshot() != before {
			t.Errorf("UDID %.40q changed the database", udid)
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 1024 {
			t.Errorf("a %d-byte log line: %.200s…", len(line), line)
		}
	}
}
