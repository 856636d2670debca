package graph_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// profileAPI is a test API whose service signs profiles with the embedded
// CA, and a device endpoint on a service that queues jobs (as serve wires it).
type profileAPI struct {
	*testAPI
	svc    *service.Service
	device *httptest.Server
}

func newProfileAPI(t *testing.T) *profileAPI {
	t.Helper()
	var cfg service.Config
	api := startTestAPI(t, func(s *store.Store, c *service.Config, _ *jobs.Deps) {
		c.ProfileSigner = func(ctx context.Context) (*x509.Certificate, crypto.PrivateKey, error) {
			ca, err := endpoint.LoadCA(ctx, s)
			if err != nil {
				return nil, nil, err
			}
			return ca.Cert, ca.Key, nil
		}
		cfg = *c
	}, nil)
	svc := service.New(cfg)
	ca, err := endpoint.LoadCA(context.Background(), api.store)
	must(t, err)
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	ep, err := endpoint.New(endpoint.Config{Devices: svc, CA: ca, PublicURL: srv.URL,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	srv.Config.Handler = ep.Handler()
	t.Cleanup(srv.Close)
	return &profileAPI{testAPI: api, svc: svc, device: srv}
}

// enrollOnBlueprint enrolls a simulated device through an enrollment of a new blueprint.
func (a *profileAPI) enrollOnBlueprint(t *testing.T, tok, name string) (*devicesim.Device, string) {
	t.Helper()
	var bp struct{ CreateBlueprint struct{ ID string } }
	a.query(tok, `mutation($n: String!) { createBlueprint(input: {name: $n}) { id } }`, map[string]any{"n": name}).decode(t, &bp)
	var e struct{ CreateEnrollment struct{ URL string } }
	a.query(tok, `mutation($b: ID!) { createEnrollment(input: {name: "e", blueprintId: $b}) { url } }`,
		map[string]any{"b": bp.CreateBlueprint.ID}).decode(t, &e)
	u, err := url.Parse(e.CreateEnrollment.URL)
	must(t, err)
	d, err := devicesim.New(a.device.Client())
	must(t, err)
	must(t, d.Enroll(context.Background(), a.device.URL+u.Path))
	// A new enrollment gets its first inventory: answered before the test's own commands.
	_, err = d.Connect(context.Background())
	must(t, err)
	return d, bp.CreateBlueprint.ID
}

func wifiProfile(identifier, version string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadIdentifier</key><string>%s</string>
<key>PayloadUUID</key><string>5A1B7C3E-0000-4000-8000-00000000000%s</string>
<key>PayloadDisplayName</key><string>Office Wi-Fi %s</string>
<key>PayloadScope</key><string>System</string>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.wifi.managed</string>
<key>PayloadUUID</key><string>6B2C8D4F-0000-4000-8000-00000000000%s</string>
<key>PayloadIdentifier</key><string>%s.wifi</string>
<key>SSID_STR</key><string>office</string>
<key>Password</key><string>wifi-secret-%s</string>
</dict></array></dict></plist>`, identifier, version, version, version, identifier, version)
}

// waitCommands waits until the device has n commands of requestType queued.
func waitCommands(t *testing.T, api *testAPI, udid, requestType string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got int
		must(t, api.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM mdm_device_commands c
			JOIN enrolled_devices d ON d.id = c.device_id WHERE d.udid = $1 AND c.request_type = $2`, udid, requestType).Scan(&got))
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%d %s commands for %s, want %d", got, requestType, udid, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Acceptance 1: a profile assigned through a blueprint is installed once,
// as signed <data>; a changed version is reinstalled; a profile removed from
// the device behind orchard's back comes back after ProfileList; removing it
// from the blueprint removes it from the device.
func TestBlueprintProfileInstalledOnceSignedAndRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newProfileAPI(t)
	tok := api.token("mdm.*")
	d, bpID := api.enrollOnBlueprint(t, tok, "Office Macs")

	var up struct {
		UploadProfile struct{ ID, Identifier, Scope, ContentHash string }
	}
	api.query(tok, `mutation($c: String!) { uploadProfile(content: $c) { id identifier scope contentHash } }`,
		map[string]any{"c": wifiProfile("com.example.wifi", "1")}).decode(t, &up)
	setProfiles := `mutation($b: ID!, $p: [ID!]!) { setBlueprintProfiles(blueprintId: $b, profileIds: $p) { id } }`
	api.query(tok, setProfiles, map[string]any{"b": bpID, "p": []string{up.UploadProfile.ID}}).decode(t, &struct{}{})
	waitCommands(t, api.testAPI, d.UDID, "InstallProfile", 1)

	connectAndCheckSignedInstall(t, api, d, "com.example.wifi")

	// Another reconcile, with nothing changed, sends nothing.
	res, err := api.svc.ReconcileProfiles(ctx, "test", store.ProfileScope{DeviceIDs: []int64{*deviceIDOf(t, api.testAPI, d.UDID)}})
	if err != nil || res.Installs+res.Removals != 0 {
		t.Fatalf("idle reconcile = %+v, %v", res, err)
	}

	// A new version is reinstalled once.
	api.query(tok, `mutation($id: ID!, $c: String!) { updateProfile(id: $id, content: $c) { id } }`,
		map[string]any{"id": up.UploadProfile.ID, "c": wifiProfile("com.example.wifi", "2")}).decode(t, &struct{}{})
	waitCommands(t, api.testAPI, d.UDID, "InstallProfile", 2)
	if _, err := d.Connect(ctx); err != nil || !strings.Contains(string(d.Profiles()["com.example.wifi"].Content), "wifi-secret-2") {
		t.Fatalf("update not installed: %v", err)
	}

	// Removed by the user: the next ProfileList brings it back.
	d.RemoveProfileLocally("com.example.wifi")
	api.query(tok, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "ProfileList") { uuid } }`,
		map[string]any{"id": fmt.Sprint(*deviceIDOf(t, api.testAPI, d.UDID))}).decode(t, &struct{}{})
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitCommands(t, api.testAPI, d.UDID, "InstallProfile", 3)
	if _, err := d.Connect(ctx); err != nil || d.Profiles()["com.example.wifi"] == nil {
		t.Fatalf("profile not reinstalled after ProfileList: %v", err)
	}

	api.query(tok, setProfiles, map[string]any{"b": bpID, "p": []string{}}).decode(t, &struct{}{})
	waitCommands(t, api.testAPI, d.UDID, "RemoveProfile", 1)
	if _, err := d.Connect(ctx); err != nil || len(d.Profiles()) != 0 {
		t.Fatalf("after removal from the blueprint the device holds %v (%v)", d.Profiles(), err)
	}
	var leaked int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE position('wifi-secret'::bytea IN command) > 0`).Scan(&leaked))
	if leaked != 0 {
		t.Fatalf("%d commands hold the Wi-Fi password in the clear", leaked)
	}
}

// Assigning an enrolled device to another blueprint brings it in line at
// once: the new blueprint's profiles are installed, those orchard installed
// for the old one are removed, and the device is told to sync its
// declarations. Assigning it again to the blueprint it is in sends nothing.
func TestAssigningABlueprintInstallsItsProfilesAndRemovesTheOldOnes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newProfileAPI(t)
	tok := api.token("mdm.*")
	d, labID := api.enrollOnBlueprint(t, tok, "Lab")
	upload := func(identifier, version string) string {
		var up struct{ UploadProfile struct{ ID string } }
		api.query(tok, `mutation($c: String!) { uploadProfile(content: $c) { id } }`,
			map[string]any{"c": wifiProfile(identifier, version)}).decode(t, &up)
		return up.UploadProfile.ID
	}
	setProfiles := func(blueprintID, profileID string) {
		api.query(tok, `mutation($b: ID!, $p: [ID!]!) { setBlueprintProfiles(blueprintId: $b, profileIds: $p) { id } }`,
			map[string]any{"b": blueprintID, "p": []string{profileID}}).decode(t, &struct{}{})
	}
	setProfiles(labID, upload("com.example.lab", "1"))
	waitCommands(t, api.testAPI, d.UDID, "InstallProfile", 1)
	connectAndCheckSignedInstall(t, api, d, "com.example.lab")

	var office struct{ CreateBlueprint struct{ ID string } }
	api.query(tok, `mutation { createBlueprint(input: {name: "Office"}) { id } }`, nil).decode(t, &office)
	setProfiles(office.CreateBlueprint.ID, upload("com.example.office", "2"))
	assign := func() int {
		var out struct{ AssignBlueprint int }
		api.query(tok, `mutation($d: [ID!]!, $b: ID!) { assignBlueprint(deviceIds: $d, blueprintId: $b) }`,
			map[string]any{"d": []string{fmt.Sprint(*deviceIDOf(t, api.testAPI, d.UDID))}, "b": office.CreateBlueprint.ID}).decode(t, &out)
		return out.AssignBlueprint
	}
	if n := assign(); n != 1 {
		t.Fatalf("assignBlueprint = %d, want 1", n)
	}
	waitCommands(t, api.testAPI, d.UDID, "InstallProfile", 2)
	waitCommands(t, api.testAPI, d.UDID, "RemoveProfile", 1)
	waitCommands(t, api.testAPI, d.UDID, "DeclarativeManagement", 2) // the lab's change, the move
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Profiles(); len(got) != 1 || got["com.example.office"] == nil {
		t.Fatalf("after the move the device holds %v, want the office profile only", got)
	}

	assign()
	var pending int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands c JOIN enrolled_devices d
		ON d.id = c.device_id WHERE d.udid = $1 AND c.status IN ('Queued', 'Sent')`, d.UDID).Scan(&pending))
	if pending != 0 {
		t.Fatalf("assigning the blueprint the device is in queued %d commands", pending)
	}
}

// connectAndCheckSignedInstall has the device connect and checks it got
// the profile once, as <data>, signed by orchard's CA.
func connectAndCheckSignedInstall(t *testing.T, api *profileAPI, d *devicesim.Device, identifier string) {
	t.Helper()
	ctx := context.Background()
	var raw []byte
	d.Answer = func(cmd *devicesim.Command) (string, map[string]any) {
		if cmd.RequestType == "InstallProfile" {
			raw = cmd.Raw
		}
		return d.AnswerCommand(cmd)
	}
	n, err := d.Connect(ctx)
	d.Answer = nil
	if err != nil || n != 2 { // InstallProfile, and DeclarativeManagement for the changed declarations
		t.Fatalf("device answered %d commands: %v", n, err)
	}
	if !bytes.Contains(raw, []byte("<key>Payload</key>\n\t\t<data>")) {
		t.Fatalf("InstallProfile as received:\n%s", raw)
	}
	ca, err := endpoint.LoadCA(ctx, api.store)
	must(t, err)
	got := d.Profiles()[identifier]
	if got == nil || got.Installs != 1 || got.Signer == nil || !got.Signer.Equal(ca.Cert) {
		t.Fatalf("installed profile = %+v, want one install signed by orchard's CA", got)
	}
}

func deviceIDOf(t *testing.T, api *testAPI, udid string) *int64 {
	t.Helper()
	var id int64
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT id FROM enrolled_devices WHERE udid = $1", udid).Scan(&id))
	return &id
}

// Bad uploads are refused with the reason and store nothing.
func TestUploadProfileRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newProfileAPI(t)
	tok := api.token("mdm.add_profile", "mdm.view_profile")
	good := wifiProfile("com.example.good", "1")
	ca, err := endpoint.LoadCA(ctx, api.store)
	must(t, err)
	signed, err := mdmproto.SignAttached([]byte(good), ca.Cert, ca.Key)
	must(t, err)
	tampered := base64.StdEncoding.EncodeToString(bytes.Replace(signed, []byte("office"), []byte("offic3"), 1))
	upload := `mutation($c: String!) { uploadProfile(content: $c) { id signer } }`
	for name, content := range map[string]string{
		"not a plist":     "just text",
		"no identifier":   strings.Replace(good, "<key>PayloadIdentifier</key><string>com.example.good</string>", "", 1),
		"duplicate uuids": strings.Replace(good, "6B2C8D4F-0000-4000-8000-000000000001", "5A1B7C3E-0000-4000-8000-000000000001", 1),
		"bad signature":   string(tampered),
		"deeply nested":   strings.Repeat("<array>", 5000),
	} {
		if res := api.query(tok, upload, map[string]any{"c": content}); res.code() != graph.CodeBadUserInput {
			t.Errorf("%s: %+v, want BAD_USER_INPUT", name, res.Errors)
		}
	}
	var n int
	must(t, api.store.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM profiles) + (SELECT count(*) FROM audit_events WHERE object_type = 'profile')").Scan(&n))
	if n != 0 {
		t.Fatalf("refused uploads left %d rows", n)
	}
	var out struct {
		UploadProfile struct {
			ID     string
			Signer *string
		}
	}
	api.query(tok, upload, map[string]any{"c": base64.StdEncoding.EncodeToString(signed)}).decode(t, &out)
	if out.UploadProfile.Signer == nil || !strings.Contains(*out.UploadProfile.Signer, "orchard SCEP CA") {
		t.Fatalf("signed upload: %+v", out.UploadProfile)
	}
	if res := api.query(tok, upload, map[string]any{"c": good}); res.code() != graph.CodeBadUserInput {
		t.Errorf("same identifier twice: %+v", res.Errors)
	}
	if res := api.query(api.token("mdm.view_profile"), upload, map[string]any{"c": good}); res.code() != graph.CodeForbidden {
		t.Errorf("upload without mdm.add_profile: %+v", res.Errors)
	}
	var sealed int
	must(t, api.store.Pool().QueryRow(ctx, "SELECT count(*) FROM profiles WHERE content_sealed LIKE '%office%'").Scan(&sealed))
	if sealed != 0 {
		t.Fatal("profile content stored in the clear")
	}
}
