package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// simMac is a device channel driven through the service, as the endpoint does.
type simMac struct {
	t   *testing.T
	svc *service.Service
	ch  mdmproto.Channel
	id  int64
}

func enrollMac(t *testing.T, svc *service.Service, s *store.Store, udid string, appleSilicon, awaiting bool, blueprintID *int64) *simMac {
	t.Helper()
	ctx := context.Background()
	ch := mdmproto.Channel{Enrollment: mdmproto.Enrollment{UDID: udid}, CertHash: []byte("hash-" + udid),
		CertNotAfter: time.Now().Add(time.Hour)}
	platform := "macOS"
	must(t, svc.Authenticate(ctx, ch, mdmproto.DeviceFacts{Platform: &platform, AppleSilicon: &appleSilicon}))
	id, err := s.DeviceIDByUDID(ctx, udid)
	must(t, err)
	if blueprintID != nil {
		must(t, svc.AssignBlueprint(ctx, "setup", *blueprintID, []int64{id}))
	}
	must(t, svc.TokenUpdate(ctx, ch, mdmproto.TokenUpdateInfo{Token: []byte("t"), PushMagic: "m", AwaitingConfiguration: awaiting}))
	return &simMac{t: t, svc: svc, ch: ch, id: id}
}

// run fetches and answers commands until the queue is empty, answering each
// with answer (nil: acknowledged, no fields); it returns the request types
// it ran, in order.
func (m *simMac) run(answer func(requestType string) (string, map[string]any)) []string {
	m.t.Helper()
	ctx := context.Background()
	next, err := m.svc.Idle(ctx, m.ch)
	must(m.t, err)
	var ran []string
	for next.UUID != "" {
		var cmd struct{ Command struct{ RequestType string } }
		must(m.t, mdmproto.UnmarshalPlist(next.Body, &cmd))
		rt := cmd.Command.RequestType
		ran = append(ran, rt)
		status, fields := mdmproto.StatusAcknowledged, map[string]any{}
		if answer != nil {
			status, fields = answer(rt)
		}
		fields["UDID"], fields["Status"], fields["CommandUUID"] = m.ch.UDID, status, next.UUID
		raw, err := plist.Marshal(fields)
		must(m.t, err)
		answer, err := mdmproto.AnswerJSON(raw)
		must(m.t, err)
		next, _, err = m.svc.ReportResult(ctx, m.ch, mdmproto.CommandResult{Status: status, CommandUUID: next.UUID, Raw: raw, JSON: answer})
		must(m.t, err)
	}
	return ran
}

func pendingTypes(t *testing.T, s *store.Store, deviceID int64) []string {
	t.Helper()
	cmds, _, err := s.ListDeviceCommands(context.Background(), deviceID, "Queued", store.Page{First: 100})
	must(t, err)
	var out []string
	for i := len(cmds) - 1; i >= 0; i-- {
		out = append(out, cmds[i].RequestType)
	}
	return out
}

func TestBlueprintSettingsAndRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Macs", BlueprintSettings: store.BlueprintSettings{
		InventoryInterval: 6 * time.Hour, CollectApps: store.CollectAll, RecoveryPassword: true, RecoveryPasswordRotationDays: 90}})
	must(t, err)
	if b.InventoryInterval != 6*time.Hour || b.CollectApps != "ALL" || b.CollectProfiles != "NO" || b.RecoveryPasswordRotationDays != 90 {
		t.Fatalf("created = %+v", b)
	}
	used, err := svc.CreateBlueprint(ctx, "ada", "Used")
	must(t, err)
	mac := enrollMac(t, svc, s, "UDID-USED", true, false, &used.ID)
	before := len(auditActions(t, s))
	checkBlueprintRefusals(t, ctx, svc, b.ID, used.ID, mac.id)
	if err := svc.DeleteBlueprint(ctx, "t", used.ID); err == nil || !strings.Contains(err.Error(), "1 devices") {
		t.Errorf("delete refusal must say why: %v", err)
	}
	if n := len(auditActions(t, s)); n != before {
		t.Fatalf("refusals wrote %d audit events", n-before)
	}
	d, err := s.Device(ctx, mac.id)
	must(t, err)
	if *d.BlueprintID != used.ID {
		t.Fatalf("a refused assignment changed the device's blueprint")
	}

	must(t, svc.AssignBlueprint(ctx, "ada", b.ID, []int64{mac.id, mac.id}))
	must(t, svc.DeleteBlueprint(ctx, "ada", used.ID))
	updated, err := svc.UpdateBlueprint(ctx, "ada", b.ID, service.BlueprintPatch{CollectProfiles: ptr(store.CollectManagedOnly)})
	must(t, err)
	if updated.CollectProfiles != "MANAGED_ONLY" || updated.InventoryInterval != 6*time.Hour || updated.CollectApps != "ALL" {
		t.Fatalf("an update must keep what it does not name: %+v", updated)
	}
	got := auditActions(t, s)[before:]
	if strings.Join(got, ",") != "blueprint.assign,blueprint.delete,blueprint.update" {
		t.Fatalf("audit = %v", got)
	}
}

// checkBlueprintRefusals checks each invalid create, update, delete and assign of blueprints is refused with its kind of error.
func checkBlueprintRefusals(t *testing.T, ctx context.Context, svc *service.Service, bID, usedID, macID int64) {
	t.Helper()
	week, tooShort, zero := 8*24*time.Hour, time.Hour, time.Duration(0)
	bad, name := "SOME", "Used"
	for _, tc := range []struct {
		name string
		want service.Kind
		call func() error
	}{
		{"create: interval too short", service.Invalid, func() error {
			_, err := svc.CreateBlueprintWith(ctx, "t", service.BlueprintInput{Name: "x", BlueprintSettings: store.BlueprintSettings{InventoryInterval: tooShort}})
			return err
		}},
		{"create: unknown level", service.Invalid, func() error {
			_, err := svc.CreateBlueprintWith(ctx, "t", service.BlueprintInput{Name: "x", BlueprintSettings: store.BlueprintSettings{CollectApps: bad}})
			return err
		}},
		{"update: interval too long", service.Invalid, func() error {
			_, err := svc.UpdateBlueprint(ctx, "t", bID, service.BlueprintPatch{InventoryInterval: &week})
			return err
		}},
		{"update: interval zero", service.Invalid, func() error {
			_, err := svc.UpdateBlueprint(ctx, "t", bID, service.BlueprintPatch{InventoryInterval: &zero})
			return err
		}},
		{"update: name taken", service.Invalid, func() error {
			_, err := svc.UpdateBlueprint(ctx, "t", bID, service.BlueprintPatch{Name: &name})
			return err
		}},
		{"update: unknown level", service.Invalid, func() error {
			_, err := svc.UpdateBlueprint(ctx, "t", bID, service.BlueprintPatch{CollectProfiles: &bad})
			return err
		}},
		{"update: unknown blueprint", service.NotFound, func() error { _, err := svc.UpdateBlueprint(ctx, "t", 999, service.BlueprintPatch{}); return err }},
		{"delete: in use", service.Invalid, func() error { return svc.DeleteBlueprint(ctx, "t", usedID) }},
		{"delete: unknown", service.NotFound, func() error { return svc.DeleteBlueprint(ctx, "t", 999) }},
		{"assign: unknown device", service.NotFound, func() error { return svc.AssignBlueprint(ctx, "t", bID, []int64{macID, 999}) }},
		{"assign: unknown blueprint", service.NotFound, func() error { return svc.AssignBlueprint(ctx, "t", 999, []int64{macID}) }},
		{"assign: none", service.Invalid, func() error { return svc.AssignBlueprint(ctx, "t", bID, nil) }},
		{"assign: too many", service.Invalid, func() error { return svc.AssignBlueprint(ctx, "t", bID, make([]int64, 1001)) }},
	} {
		if err := tc.call(); !service.IsKind(err, tc.want) {
			t.Errorf("%s: err = %v, want kind %d", tc.name, err, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func tokenUpdate() mdmproto.TokenUpdateInfo {
	return mdmproto.TokenUpdateInfo{Token: []byte("t"), PushMagic: "m"}
}
