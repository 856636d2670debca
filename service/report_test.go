package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestCommandExchangeIsOneRoundTrip keeps the command path as short as
// Idle's: a report that needs no processing beyond its facts is stored, its
// facts applied and the next command handed out in one statement, and both
// status events are published after it, off the request. A device cannot make its answer's facts count
// for a command of another type.
func TestCommandExchangeIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	sub, cancel := pgtest.StartBroker(t, s).Subscribe(events.TopicCommand)
	defer cancel()
	m := enrollMac(t, svc, s, "UDID-EXCHANGE", true, false, nil)
	m.run(nil)
	info := queue(t, s, m.id, "DeviceInformation")
	other := queue(t, s, m.id, "ProvisioningProfileList")

	next := exchange(t, ctx, func(ctx context.Context) (mdmproto.NextCommand, error) { return svc.Idle(ctx, m.ch) })
	if next.UUID != info.UUID {
		t.Fatalf("Idle gave %q, want the DeviceInformation %q", next.UUID, info.UUID)
	}
	wantEvent(t, sub, "Sent", info)
	answer := map[string]any{"QueryResponses": map[string]any{"DeviceName": "Renamed", "OSVersion": "15.1"}}
	next = exchange(t, ctx, func(ctx context.Context) (mdmproto.NextCommand, error) { return report(ctx, svc, m, info.UUID, answer) })
	if next.UUID != other.UUID {
		t.Fatalf("report gave %q, want the next command %q", next.UUID, other.UUID)
	}
	wantEvent(t, sub, "Acknowledged", info)
	wantEvent(t, sub, "Sent", other)
	d, err := s.Device(ctx, m.id)
	must(t, err)
	var inventoried bool
	must(t, s.Pool().QueryRow(ctx, "SELECT inventory_updated_at IS NOT NULL FROM enrolled_devices WHERE id = $1", m.id).Scan(&inventoried))
	if d.Name != "Renamed" || d.OSVersion != "15.1" || !inventoried {
		t.Fatalf("facts not applied: name %q, OS %q, inventory marked %v", d.Name, d.OSVersion, inventoried)
	}

	hostile := map[string]any{"QueryResponses": map[string]any{"DeviceName": "Evil"}}
	next = exchange(t, ctx, func(ctx context.Context) (mdmproto.NextCommand, error) {
		return report(ctx, svc, m, other.UUID, hostile)
	})
	wantEvent(t, sub, "Acknowledged", other)
	if d, err = s.Device(ctx, m.id); err != nil || d.Name != "Renamed" || next.UUID != "" {
		t.Fatalf("an answer to a ProvisioningProfileList set the name to %q (next %q, %v)", d.Name, next.UUID, err)
	}
}

// TestDeferredAnswersAreProcessedAndChainOn: an answer orchard acts on takes
// the transactional path, and its facts and next command are still right.
func TestDeferredAnswersAreProcessedAndChainOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	m := enrollMac(t, svc, s, "UDID-DEFERRED", true, false, nil)
	m.run(nil)
	security := queue(t, s, m.id, "SecurityInfo")
	after := queue(t, s, m.id, "ProvisioningProfileList")
	next, err := svc.Idle(ctx, m.ch)
	if err != nil || next.UUID != security.UUID {
		t.Fatalf("Idle gave %q, %v", next.UUID, err)
	}
	traced, log := pgtest.WithStatementLog(ctx)
	next, err = report(traced, svc, m, security.UUID, map[string]any{"SecurityInfo": map[string]any{"FDE_Enabled": true}})
	if err != nil || next.UUID != after.UUID {
		t.Fatalf("report gave %q, %v; want %q", next.UUID, err, after.UUID)
	}
	for _, st := range log.Statements() {
		if strings.HasPrefix(st.SQL, "SELECT request_type FROM mdm_device_commands") {
			t.Fatal("the transaction looked up the request type QuickReport had read")
		}
	}
	d, err := s.Device(ctx, m.id)
	if err != nil || !d.FileVaultEnabled {
		t.Fatalf("SecurityInfo facts not applied: %+v, %v", d, err)
	}
	var clear []byte
	must(t, s.Pool().QueryRow(ctx, "SELECT result FROM mdm_device_commands WHERE uuid = $1", security.UUID).Scan(&clear))
	if clear != nil {
		t.Fatalf("a SecurityInfo answer was stored in the clear: %s", clear)
	}
}

func queue(t *testing.T, s *store.Store, deviceID int64, requestType string) store.DeviceCommand {
	t.Helper()
	uuid, body, err := mdmproto.NewCommand(requestType, nil)
	must(t, err)
	var c store.DeviceCommand
	must(t, s.Tx(context.Background(), func(q *store.Queries) error {
		c, err = q.EnqueueCommand(context.Background(), deviceID, uuid, requestType, body, "test")
		return err
	}))
	return c
}

// exchange runs one device request and checks it took one statement.
func exchange(t *testing.T, ctx context.Context, request func(context.Context) (mdmproto.NextCommand, error)) mdmproto.NextCommand {
	t.Helper()
	traced, log := pgtest.WithStatementLog(ctx)
	next, err := request(traced)
	must(t, err)
	if n := log.Len(); n != 1 {
		t.Fatalf("the request took %d statements, want 1", n)
	}
	return next
}

// report sends an Acknowledged answer with fields, as the endpoint does.
func report(ctx context.Context, svc *service.Service, m *simMac, uuid string, fields map[string]any) (mdmproto.NextCommand, error) {
	fields["UDID"], fields["Status"], fields["CommandUUID"] = m.ch.UDID, mdmproto.StatusAcknowledged, uuid
	raw, err := plist.Marshal(fields)
	if err != nil {
		return mdmproto.NextCommand{}, err
	}
	answer, err := mdmproto.AnswerJSON(raw)
	if err != nil {
		return mdmproto.NextCommand{}, err
	}
	next, _, err := svc.ReportResult(ctx, m.ch, mdmproto.CommandResult{Status: mdmproto.StatusAcknowledged,
		CommandUUID: uuid, Raw: raw, JSON: answer})
	return next, err
}

// wantEvent waits for the event typ of command c, passing over the events
// of other commands (the enrollment's own) and failing on any other of c's.
func wantEvent(t *testing.T, sub <-chan events.Event, typ string, c store.DeviceCommand) {
	t.Helper()
	for {
		ev := pgtest.Receive(t, sub)
		if ev.ID != c.ID {
			continue
		}
		if ev.Type != typ || ev.Kind != c.RequestType || ev.DeviceID != c.DeviceID {
			t.Fatalf("event %+v, want %s of %+v", ev, typ, c)
		}
		return
	}
}

// The same answer sent at once on several connections (a device retrying
// over a broken one) counts once, whatever the interleaving.
func TestConcurrentDuplicateReportsCountOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	m := enrollMac(t, svc, s, "UDID-DUPLICATE", true, false, nil)
	m.run(nil)
	for round := range 5 {
		c := queue(t, s, m.id, "ProvisioningProfileList")
		if next, err := svc.Idle(ctx, m.ch); err != nil || next.UUID != c.UUID {
			t.Fatalf("round %d: Idle gave %q, %v", round, next.UUID, err)
		}
		raw := []byte(`<plist><dict><key>UDID</key><string>` + m.ch.UDID + `</string><key>Status</key><string>Acknowledged</string>` +
			`<key>CommandUUID</key><string>` + c.UUID + `</string></dict></plist>`)
		answer, err := mdmproto.AnswerJSON(raw)
		must(t, err)
		found := make(chan bool, 8)
		for range cap(found) {
			go func() {
				_, ok, err := svc.ReportResult(ctx, m.ch, mdmproto.CommandResult{Status: mdmproto.StatusAcknowledged,
					CommandUUID: c.UUID, Raw: raw, JSON: answer})
				found <- ok && err == nil
			}()
		}
		answered := 0
		for range cap(found) {
			if <-found {
				answered++
			}
		}
		if answered != 1 {
			t.Fatalf("round %d: the answer counted %d times", round, answered)
		}
	}
}
