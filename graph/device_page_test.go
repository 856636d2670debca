package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/store/pgtest"
)

// devicePageQuery is a frontend's device list: a page with its total, each
// device's blueprint and user channels. BenchmarkDevicePage times it.
const devicePageQuery = `query($first: Int, $after: String, $filter: DeviceFilter) {
  devices(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id udid serialNumber name platform lastSeenAt blueprint { id name } users { userId shortName } } }
  }
}`

type listedPage struct {
	Devices struct {
		TotalCount int
		PageInfo   struct{ HasNextPage bool }
		Edges      []struct {
			Node struct {
				ID        string
				Blueprint *struct{ Name string }
				Users     []struct{ UserID string }
			}
		}
	}
}

// queryLogged answers a query in-process, with the statements it sent.
func (a *testAPI) queryLogged(token, query string, vars map[string]any) (gqlResponse, []pgtest.Statement) {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, log := pgtest.WithStatementLog(req.Context())
	rec := httptest.NewRecorder()
	a.server.Config.Handler.ServeHTTP(rec, req.WithContext(ctx))
	var out gqlResponse
	if err := json.NewDecoder(rec.Body).Decode(&out); err != nil {
		a.t.Fatalf("decode response (status %d): %v", rec.Code, err)
	}
	return out, log.Statements()
}

// TestDevicePageIsAtMostThreeStatements: checking the token, the page with
// each device's blueprint and users, and its count; however the query names
// the fields (fragments included).
func TestDevicePageIsAtMostThreeStatements(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	bp, err := api.store.CreateBlueprint(ctx, "fleet")
	must(t, err)
	ids := addDevices(t, api.store, 120, "macOS", &bp.ID)
	_, err = api.store.Pool().Exec(ctx, `INSERT INTO mdm_device_users (device_id, user_id)
		SELECT id, 'U' || id || '-' || n FROM unnest($1::bigint[]) id, generate_series(1, 2) n`, ids[:10])
	must(t, err)
	tok := api.token("mdm.view_enrolleddevice")
	fragments := `query($first: Int) { devices(first: $first) { totalCount pageInfo { hasNextPage }
		edges { node { id ...bp ... on Device { users { userId } } } } } }
		fragment bp on Device { blueprint { name } }`
	for name, query := range map[string]string{"fields": devicePageQuery, "fragments": fragments} {
		res, sent := api.queryLogged(tok, query, map[string]any{"first": 100})
		var page listedPage
		res.decode(t, &page)
		if len(sent) > 3 {
			t.Errorf("%s: %d statements for a page, want at most 3:\n%s", name, len(sent), statementList(sent))
		}
		d := page.Devices
		if d.TotalCount != 120 || len(d.Edges) != 100 || !d.PageInfo.HasNextPage {
			t.Fatalf("%s: totalCount %d, %d edges, more %v", name, d.TotalCount, len(d.Edges), d.PageInfo.HasNextPage)
		}
		first, last := d.Edges[0].Node, d.Edges[99].Node
		if first.Blueprint == nil || first.Blueprint.Name != "fleet" || len(first.Users) != 2 || last.Users == nil || len(last.Users) != 0 {
			t.Errorf("%s: first device %+v, last %+v; want the blueprint on both, 2 users then none", name, first, last)
		}
	}
}

func statementList(sent []pgtest.Statement) string {
	var b strings.Builder
	for _, s := range sent {
		b.WriteString(strings.Join(strings.Fields(s.SQL), " ") + "\n")
	}
	return b.String()
}

// TestDeviceFilterRefusesWhatNoIndexAnswers: a search the trigram index
// cannot serve, a text too long, or a NUL is refused as the caller's
// mistake, in the list and in pushDevices, rather than read every device.
func TestDeviceFilterRefusesWhatNoIndexAnswers(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	addDevices(t, api.store, 3, "macOS", nil)
	tok := api.token("mdm.view_enrolleddevice", "mdm.change_enrolleddevice")
	refused := []map[string]any{
		{"search": "ab"}, {"search": "%%%"}, {"search": "_a_b_"}, {"search": "日本語"},
		{"search": "abc\x00"}, {"search": strings.Repeat("abc", 100)}, {"udid": strings.Repeat("A", 300)},
		{"serialNumber": "C02\x00"},
	}
	for _, filter := range refused {
		vars := map[string]any{"filter": filter}
		if res := api.query(tok, devicePageQuery, vars); res.code() != "BAD_USER_INPUT" {
			t.Errorf("devices(filter: %q): %+v, want BAD_USER_INPUT", filter, res.Errors)
		}
		push := `mutation($filter: DeviceFilter) { pushDevices(filter: $filter) { deviceCount } }`
		if res := api.query(tok, push, vars); res.code() != "BAD_USER_INPUT" {
			t.Errorf("pushDevices(filter: %q): %+v, want BAD_USER_INPUT", filter, res.Errors)
		}
	}
	var page listedPage
	api.query(tok, devicePageQuery, map[string]any{"filter": map[string]any{"search": "%_ü日本語 100%"}}).decode(t, &page)
	if page.Devices.TotalCount != 0 {
		t.Errorf("a search of wildcards and unicode matched %d devices, want none", page.Devices.TotalCount)
	}
}

// A page of devices asking for each one's software update status and
// declaration statuses reads them in the page statement, not one per device.
func TestDevicePageLoadsStatusesInThePageStatement(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	ctx := context.Background()
	ids := addDevices(t, api.store, 50, "macOS", nil)
	_, err := api.store.Pool().Exec(ctx, `INSERT INTO device_software_update_status (device_id, install_state)
		SELECT id, 'downloading' FROM unnest($1::bigint[]) id`, ids[:20])
	must(t, err)
	_, err = api.store.Pool().Exec(ctx, `INSERT INTO device_declaration_status (device_id, kind, identifier, server_token, active, valid)
		SELECT id, 'configuration', 'orchard.status-subscriptions', 't', true, 'valid' FROM unnest($1::bigint[]) id`, ids[10:40])
	must(t, err)
	res, sent := api.queryLogged(api.token("mdm.view_enrolleddevice"),
		`{ devices(first: 50) { edges { node { id softwareUpdateStatus { installState } declarationStatus { identifier } } } } }`, nil)
	var page struct {
		Devices struct {
			Edges []struct {
				Node struct {
					SoftwareUpdateStatus *struct{ InstallState string }
					DeclarationStatus    []struct{ Identifier string }
				}
			}
		}
	}
	res.decode(t, &page)
	reported, declared := 0, 0
	for _, e := range page.Devices.Edges {
		if s := e.Node.SoftwareUpdateStatus; s != nil && s.InstallState == "downloading" {
			reported++
		}
		declared += len(e.Node.DeclarationStatus)
	}
	if reported != 20 || declared != 30 || len(sent) > 3 {
		t.Fatalf("%d devices with their update status, %d declaration statuses, %d statements (want 20, 30, at most 3):\n%s",
			reported, declared, len(sent), statementList(sent))
	}
}
