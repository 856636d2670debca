package graph_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

func TestEnrollmentsCreateListDelete(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tok := api.token("mdm.*")
	bp, err := api.store.CreateBlueprint(context.Background(), "Shared iPads")
	must(t, err)

	type enrollment struct {
		ID, Name, URL string
		Dep           bool
		Blueprint     *struct{ Name string }
	}
	var c struct{ CreateEnrollment enrollment }
	api.query(tok, `mutation($bp: ID) { createEnrollment(input: {name: " Kiosks ", blueprintId: $bp, dep: true}) {
		id name url dep blueprint { name } } }`, map[string]any{"bp": bp.ID}).decode(t, &c)
	e := c.CreateEnrollment
	if e.Name != "Kiosks" || !e.Dep || e.Blueprint == nil || e.Blueprint.Name != "Shared iPads" || !strings.Contains(e.URL, "/enroll/") {
		t.Fatalf("created %+v", e)
	}
	for _, bad := range []string{`{name: "  "}`, `{name: "x", blueprintId: "999999"}`, `{name: "x", blueprintId: "nope"}`} {
		if res := api.query(tok, `mutation { createEnrollment(input: `+bad+`) { id } }`, nil); res.code() != graph.CodeBadUserInput {
			t.Errorf("createEnrollment(%s): %+v, want BAD_USER_INPUT", bad, res.Errors)
		}
	}
	var list struct {
		Enrollments struct {
			TotalCount int
			Edges      []struct{ Node enrollment }
		}
	}
	api.query(tok, `{ enrollments { totalCount edges { node { id name } } } }`, nil).decode(t, &list)
	if list.Enrollments.TotalCount != 1 || list.Enrollments.Edges[0].Node.ID != e.ID {
		t.Fatalf("listed %+v", list)
	}
	var del struct{ DeleteEnrollment string }
	api.query(tok, `mutation($id: ID!) { deleteEnrollment(id: $id) }`, map[string]any{"id": e.ID}).decode(t, &del)
	if res := api.query(tok, `mutation($id: ID!) { deleteEnrollment(id: $id) }`, map[string]any{"id": e.ID}); res.code() != graph.CodeNotFound {
		t.Fatalf("second delete: %+v", res.Errors)
	}
	var one struct{ Enrollment *enrollment }
	api.query(tok, `query($id: ID!) { enrollment(id: $id) { id } }`, map[string]any{"id": e.ID}).decode(t, &one)
	if one.Enrollment != nil {
		t.Fatal("deleted enrollment still readable")
	}
	var audit struct {
		AuditEvents struct {
			Edges []struct {
				Node struct{ Action, Actor string }
			}
		}
	}
	api.query(tok, `{ auditEvents { edges { node { action actor } } } }`, nil).decode(t, &audit)
	actions := map[string]bool{}
	for _, e := range audit.AuditEvents.Edges {
		actions[e.Node.Action] = strings.HasPrefix(e.Node.Actor, "token:")
	}
	if !actions["enrollment.create"] || !actions["enrollment.delete"] {
		t.Fatalf("audit trail: %+v", audit)
	}
}

func TestEnqueueValidatesPushesInTheSameTransactionAndCancels(t *testing.T) {
	t.Parallel()
	// The push hook sees the command inside the transaction that inserts it.
	var (
		mu       sync.Mutex
		pushed   []int64
		seen     int
		failPush bool
	)
	api := newTestAPIWithPush(t, func(ctx context.Context, tx pgx.Tx, deviceIDs []int64) error {
		mu.Lock()
		defer mu.Unlock()
		if failPush {
			return context.DeadlineExceeded
		}
		pushed = append(pushed, deviceIDs...)
		return tx.QueryRow(ctx, "SELECT count(*) FROM mdm_device_commands WHERE device_id = $1", deviceIDs[0]).Scan(&seen)
	})
	tok := api.token("mdm.add_devicecommand", "mdm.view_devicecommand", "mdm.view_enrolleddevice")
	ids := addDevices(t, api.store, 1, "macOS", nil)
	enqueue := `mutation($id: ID!, $t: String!, $p: JSON) { enqueueDeviceCommand(deviceId: $id, requestType: $t, payload: $p) { uuid status } }`
	var q struct{ EnqueueDeviceCommand struct{ UUID, Status string } }
	api.query(tok, enqueue, map[string]any{"id": ids[0], "t": "RestartDevice", "p": map[string]any{"NotifyUser": true}}).decode(t, &q)
	mu.Lock()
	if len(pushed) != 1 || pushed[0] != ids[0] || seen != 1 {
		t.Fatalf("push hook: devices %v, saw %d commands", pushed, seen)
	}
	mu.Unlock()
	checkEnqueueRefusals(t, api, tok, enqueue, ids[0])
	// A failing push rolls the command back.
	mu.Lock()
	failPush = true
	mu.Unlock()
	if res := api.query(tok, enqueue, map[string]any{"id": ids[0], "t": "ProfileList"}); res.code() != graph.CodeInternal {
		t.Errorf("failing push: %+v", res.Errors)
	}
	checkCancelAndList(t, api, tok, ids[0], q.EnqueueDeviceCommand.UUID)
}

// checkEnqueueRefusals: bad types and payloads, dedicated types, blocked and
// unknown devices are refused.
func checkEnqueueRefusals(t *testing.T, api *testAPI, tok, enqueue string, id int64) {
	t.Helper()
	ids := []int64{id}
	for name, vars := range map[string]map[string]any{
		"unknown type":    {"id": ids[0], "t": "MakeCoffee"},
		"payload array":   {"id": ids[0], "t": "RestartDevice", "p": []any{1}},
		"overriding type": {"id": ids[0], "t": "RestartDevice", "p": map[string]any{"RequestType": "EraseDevice"}},
		"erase":           {"id": ids[0], "t": "EraseDevice"},
		"lock":            {"id": ids[0], "t": "DeviceLock", "p": map[string]any{"PIN": "123456"}},
	} {
		if res := api.query(tok, enqueue, vars); res.code() != graph.CodeBadUserInput {
			t.Errorf("%s: %+v, want BAD_USER_INPUT", name, res.Errors)
		}
	}
	blocked := addDevices(t, api.store, 1, "macOS", nil)[0]
	must(t, pgx.BeginFunc(context.Background(), api.store.Pool(), func(tx pgx.Tx) error {
		_, err := api.store.SetDeviceBlocked(context.Background(), blocked, true)
		return err
	}))
	if res := api.query(tok, enqueue, map[string]any{"id": blocked, "t": "RestartDevice"}); res.code() != graph.CodeBadUserInput {
		t.Errorf("command for a blocked device: %+v, want BAD_USER_INPUT", res.Errors)
	}
	if res := api.query(tok, enqueue, map[string]any{"id": "987654", "t": "RestartDevice"}); res.code() != graph.CodeNotFound {
		t.Errorf("unknown device: %+v", res.Errors)
	}
}

// checkCancelAndList cancels the queued command once (a second cancel is
// refused) and lists what is left, filtered and with permissions.
func checkCancelAndList(t *testing.T, api *testAPI, tok string, id int64, uuid string) {
	t.Helper()
	ids := []int64{id}
	cancel := `mutation($u: String!) { cancelDeviceCommand(uuid: $u) { uuid status resultAt } }`
	var cq struct{ CancelDeviceCommand struct{ Status string } }
	api.query(tok, cancel, map[string]any{"u": uuid}).decode(t, &cq)
	if cq.CancelDeviceCommand.Status != "CANCELLED" {
		t.Fatalf("cancel: %+v", cq)
	}
	if res := api.query(tok, cancel, map[string]any{"u": uuid}); res.code() != graph.CodeBadUserInput {
		t.Errorf("second cancel: %+v", res.Errors)
	}
	var got deviceWithCommands
	api.query(tok, deviceCommandsQuery, map[string]any{"id": ids[0]}).decode(t, &got)
	if n := len(got.Device.Commands.Edges); n != 1 {
		t.Fatalf("%d commands listed, want 1 (the failed push must leave none)", n)
	}
	var filtered struct {
		Device struct {
			Commands struct{ Edges []struct{ Node commandNode } }
		}
	}
	api.query(tok, `query($id: ID!) { device(id: $id) { commands(status: QUEUED) { edges { node { uuid } } } } }`,
		map[string]any{"id": ids[0]}).decode(t, &filtered)
	if len(filtered.Device.Commands.Edges) != 0 {
		t.Fatalf("status filter: %+v", filtered)
	}
	// Reading commands needs its own permission.
	if res := api.query(api.token("mdm.view_enrolleddevice"), deviceCommandsQuery, map[string]any{"id": ids[0]}); res.code() != graph.CodeForbidden {
		t.Errorf("commands without mdm.view_devicecommand: %+v", res.Errors)
	}
}

// A DeviceLocation answer says where the device is: reading it needs
// mdm.view_location as well as the command list's permission.
func TestLocationAnswerNeedsTheLocationPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	ids := addDevices(t, api.store, 1, "iOS", nil)
	uuid, body, err := mdmproto.NewCommand("DeviceLocation", nil)
	must(t, err)
	must(t, api.store.Tx(ctx, func(q *store.Queries) error {
		_, err := q.EnqueueCommand(ctx, ids[0], uuid, "DeviceLocation", body, "test")
		return err
	}))
	_, err = api.store.Pool().Exec(ctx, `UPDATE mdm_device_commands SET status = 'Acknowledged', result_at = now(),
		result = '{"Latitude": 48.85, "Longitude": 2.35}' WHERE uuid = $1`, uuid)
	must(t, err)
	const q = `query($id: ID!) { device(id: $id) { commands { edges { node { requestType result } } } } }`
	res := api.query(api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand"), q, map[string]any{"id": ids[0]})
	if res.code() != graph.CodeForbidden || strings.Contains(string(res.Data), "48.85") {
		t.Fatalf("location answer without mdm.view_location: %s %+v", res.Data, res.Errors)
	}
	res = api.query(api.token("mdm.view_enrolleddevice", "mdm.view_devicecommand", "mdm.view_location"), q, map[string]any{"id": ids[0]})
	if len(res.Errors) != 0 || !strings.Contains(string(res.Data), "48.85") {
		t.Fatalf("location answer with mdm.view_location: %s %+v", res.Data, res.Errors)
	}
}
