package graph_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/store"
)

const deviceQuery = `query($first: Int, $after: String, $filter: DeviceFilter) {
  devices(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id udid serialNumber platform blockedAt blueprint { name } } }
  }
}`

type deviceNode struct {
	ID           string
	UDID         string
	SerialNumber string
	Platform     string
	BlockedAt    *time.Time
	Blueprint    *struct{ Name string }
}

type devicePage struct {
	Devices struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
		Edges []struct {
			Cursor string
			Node   deviceNode
		}
	}
}

func addDevices(t *testing.T, s *store.Store, n int, platform string, blueprint *int64) []int64 {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `INSERT INTO enrolled_devices (udid, serial_number, platform, blueprint_id)
		SELECT gen_random_uuid()::text, 'S' || substr(md5(random()::text), 1, 10), $2, $3 FROM generate_series(1, $1)
		RETURNING id`, n, platform, blueprint)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		must(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	return ids
}

func TestDevicesPaginateStablyWhileDevicesEnroll(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	addDevices(t, api.store, 7, "macOS", nil)
	tok := api.token("mdm.view_enrolleddevice")

	seen := map[string]bool{}
	vars := map[string]any{"first": 3}
	for pages := 0; ; pages++ {
		var p devicePage
		api.query(tok, deviceQuery, vars).decode(t, &p)
		for _, e := range p.Devices.Edges {
			if seen[e.Node.ID] {
				t.Fatalf("device %s listed twice", e.Node.ID)
			}
			seen[e.Node.ID] = true
		}
		if pages == 0 {
			if p.Devices.TotalCount != 7 {
				t.Fatalf("totalCount %d, want 7", p.Devices.TotalCount)
			}
			addDevices(t, api.store, 2, "macOS", nil) // enrolled while the client pages
		}
		if !p.Devices.PageInfo.HasNextPage {
			break
		}
		vars["after"] = *p.Devices.PageInfo.EndCursor
	}
	if len(seen) != 9 {
		t.Fatalf("saw %d devices, want 9", len(seen))
	}
}

func TestDeviceFilterAndBlueprintEdge(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	bp, err := api.store.CreateBlueprint(context.Background(), "Laptops")
	must(t, err)
	addDevices(t, api.store, 120, "macOS", &bp.ID)
	addDevices(t, api.store, 3, "iOS", nil)
	tok := api.token("mdm.view_enrolleddevice")

	var p devicePage
	api.query(tok, deviceQuery, map[string]any{"first": 500, "filter": map[string]any{"platform": "macOS"}}).decode(t, &p)
	if p.Devices.TotalCount != 120 || len(p.Devices.Edges) != 120 {
		t.Fatalf("got %d of %d macOS devices, want 120", len(p.Devices.Edges), p.Devices.TotalCount)
	}
	for _, e := range p.Devices.Edges {
		if e.Node.Blueprint == nil || e.Node.Blueprint.Name != "Laptops" {
			t.Fatalf("device %s blueprint = %+v", e.Node.ID, e.Node.Blueprint)
		}
	}
	api.query(tok, deviceQuery, map[string]any{"filter": map[string]any{"platform": "iOS"}}).decode(t, &p)
	if p.Devices.TotalCount != 3 || p.Devices.Edges[0].Node.Blueprint != nil {
		t.Fatalf("iOS page = %+v", p.Devices)
	}
}

func TestBlockAndUnblockDevice(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	id := addDevices(t, api.store, 1, "iOS", nil)[0]
	tok := api.token("mdm.change_enrolleddevice", "mdm.view_auditevent")
	gid := strconv.FormatInt(id, 10)

	var blocked struct{ BlockDevice deviceNode }
	api.query(tok, `mutation($id: ID!) { blockDevice(id: $id) { id blockedAt } }`, map[string]any{"id": gid}).decode(t, &blocked)
	if blocked.BlockDevice.BlockedAt == nil {
		t.Fatal("blockedAt not set")
	}
	var unblocked struct{ UnblockDevice deviceNode }
	api.query(tok, `mutation($id: ID!) { unblockDevice(id: $id) { id blockedAt } }`, map[string]any{"id": gid}).decode(t, &unblocked)
	if unblocked.UnblockDevice.BlockedAt != nil {
		t.Fatal("blockedAt not cleared")
	}

	var audit struct {
		AuditEvents struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					Action, Actor, ObjectType, ObjectID string
				}
			}
		}
	}
	api.query(tok, `{ auditEvents { totalCount edges { node { action actor objectType objectId } } } }`, nil).decode(t, &audit)
	var actions []string
	for _, e := range audit.AuditEvents.Edges {
		if e.Node.ObjectType == "enrolled_device" && e.Node.ObjectID == gid {
			actions = append(actions, e.Node.Action)
			if e.Node.Actor == "" || e.Node.Actor == "anonymous" {
				t.Errorf("audit event without an actor: %+v", e.Node)
			}
		}
	}
	if fmt.Sprint(actions) != "[device.unblock device.block]" {
		t.Fatalf("audit actions for the device = %v", actions)
	}
}

func TestBadArgumentsChangeNothing(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	addDevices(t, api.store, 1, "iOS", nil)
	tok := api.token("mdm.*")
	for _, tc := range []struct {
		query string
		vars  map[string]any
		code  string
	}{
		{`mutation { blockDevice(id: "abc") { id } }`, nil, graph.CodeBadUserInput},
		{`mutation { blockDevice(id: "-4") { id } }`, nil, graph.CodeBadUserInput},
		{`mutation { blockDevice(id: "99999") { id } }`, nil, graph.CodeNotFound},
		{`{ devices(first: 0) { totalCount } }`, nil, graph.CodeBadUserInput},
		{`{ devices(first: 100000) { totalCount } }`, nil, graph.CodeBadUserInput},
		{`{ devices(after: "garbage!") { totalCount } }`, nil, graph.CodeBadUserInput},
		{`{ devices(after: "Ymx1ZXByaW50OjE") { totalCount } }`, nil, graph.CodeBadUserInput}, // a blueprint cursor
		{`mutation { createBlueprint(input: {name: "   "}) { id } }`, nil, graph.CodeBadUserInput},
		{`{ job(id: "x") { id } }`, nil, graph.CodeBadUserInput},
	} {
		res := api.query(tok, tc.query, tc.vars)
		if res.code() != tc.code {
			t.Errorf("%s: code %q (%+v), want %s", tc.query, res.code(), res.Errors, tc.code)
		}
	}
	var blocked, audits int
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM enrolled_devices WHERE blocked_at IS NOT NULL").Scan(&blocked))
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE action <> 'api_token.create'").Scan(&audits))
	if blocked != 0 || audits != 0 {
		t.Fatalf("bad input changed state: %d blocked devices, %d audit events", blocked, audits)
	}
}

func TestDeviceQueryForUnknownIDIsNull(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	var out struct{ Device *deviceNode }
	api.query(api.token("mdm.view_enrolleddevice"), `{ device(id: "424242") { id } }`, nil).decode(t, &out)
	if out.Device != nil {
		t.Fatalf("device = %+v, want null", out.Device)
	}
}

func TestSecretsNeedTheirPermissionAndEveryRevealIsAudited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	id := addDevices(t, api.store, 1, "macOS", nil)[0]
	must(t, api.store.SetDeviceSecret(ctx, api.store.Pool(), id, "filevault_prk_sealed", []byte("AAAA-BBBB-CCCC")))
	q := fmt.Sprintf(`{ device(id: "%d") { serialNumber filevaultPrk recoveryPassword } }`, id)

	res := api.query(api.token("mdm.view_enrolleddevice"), q, nil)
	if res.code() != graph.CodeForbidden {
		t.Fatalf("reading the PRK without mdm.view_filevault_prk: %+v", res.Errors)
	}
	res = api.query(api.token("mdm.view_enrolleddevice", "mdm.view_filevault_prk", "mdm.view_recovery_password"), q, nil)
	var out struct {
		Device struct {
			FilevaultPrk     *string
			RecoveryPassword *string
		}
	}
	res.decode(t, &out)
	if out.Device.FilevaultPrk == nil || *out.Device.FilevaultPrk != "AAAA-BBBB-CCCC" || out.Device.RecoveryPassword != nil {
		t.Fatalf("secrets = %+v", out.Device)
	}
	var reveals int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device.reveal_secret'
		AND data->>'secret' = 'filevault_prk_sealed'`).Scan(&reveals))
	if reveals != 1 {
		t.Fatalf("%d reveal audit events, want 1", reveals)
	}
}
