package graph_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// Payloads are checked against Apple's schema for their request type, and
// {"$data": ...} reaches the device as plist <data>.
func TestEnqueueChecksPayloadAgainstAppleSchema(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tok := api.token("mdm.add_devicecommand", "mdm.view_devicecommand")
	id := addDevices(t, api.store, 1, "macOS", nil)[0]
	const enqueue = `mutation($id: ID!, $t: String!, $p: JSON) { enqueueDeviceCommand(deviceId: $id, requestType: $t, payload: $p) { uuid } }`
	dev := strconv.FormatInt(id, 10)
	for name, vars := range map[string]map[string]any{
		"InstallProfile payload as string": {"t": "InstallProfile", "p": map[string]any{"Payload": "PHBsaXN0Lz4="}},
		"InstallProfile without payload":   {"t": "InstallProfile"},
		"DeviceInformation bogus key":      {"t": "DeviceInformation", "p": map[string]any{"Bogus": 1}},
		"RemoveProfile identifier number":  {"t": "RemoveProfile", "p": map[string]any{"Identifier": 7}},
		"RestartDevice NotifyUser string":  {"t": "RestartDevice", "p": map[string]any{"NotifyUser": "yes"}},
		"EnableLostMode footnote number":   {"t": "EnableLostMode", "p": map[string]any{"Footnote": 3}},
		"InstallApplication ID fraction":   {"t": "InstallApplication", "p": map[string]any{"iTunesStoreID": 1.5}},
	} {
		vars["id"] = dev
		if res := api.query(tok, enqueue, vars); res.code() != graph.CodeBadUserInput {
			t.Errorf("%s: %+v, want BAD_USER_INPUT", name, res.Errors)
		}
	}
	var n int
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM mdm_device_commands").Scan(&n))
	if n != 0 {
		t.Fatalf("%d commands stored by refused requests", n)
	}

	profile := []byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict/></plist>`)
	var out struct{ EnqueueDeviceCommand struct{ UUID string } }
	api.query(tok, enqueue, map[string]any{"id": dev, "t": "InstallProfile",
		"p": map[string]any{"Payload": map[string]any{"$data": profile}}}).decode(t, &out)
	got, ok := queuedCommand(t, api, out.EnqueueDeviceCommand.UUID)["Payload"].([]byte)
	if !ok || !bytes.Equal(got, profile) {
		t.Fatalf("queued Payload = %#v, want the profile as data", got)
	}
	body := nextCommandBody(t, api, id)
	if !bytes.Contains(body, []byte("<key>Payload</key>\n\t\t<data>")) {
		t.Fatalf("the device received:\n%s", body)
	}
}

// nextCommandBody is the plist the device is answered with at its next Idle.
func nextCommandBody(t *testing.T, api *testAPI, id int64) []byte {
	t.Helper()
	ctx := context.Background()
	var udid string
	must(t, api.store.Pool().QueryRow(ctx, `UPDATE enrolled_devices SET identity_cert_sha256 = sha256(udid::bytea),
		authenticated_at = coalesce(authenticated_at, now()), token_updated = true WHERE id = $1 RETURNING udid`, id).Scan(&udid))
	next, err := api.store.Idle(ctx, store.Channel{Enrollment: mdmproto.Enrollment{UDID: udid}, CertHash: sha256Of(udid)})
	must(t, err)
	return next.Body
}
