package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/generated"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// auditStep is one mutation called as a person would: good must succeed and
// write exactly one audit event; bad (a refusal) must write none.
type auditStep struct {
	mutation string
	good     func() (query string, vars map[string]any)
	bad      string
	// keep reads what later steps need from good's answer.
	keep func(data []byte)
}

// TestEveryMutationWritesExactlyOneAuditEvent walks every mutation of the
// schema: each success writes one audit event (in its own transaction, by
// the service layer), each refusal none. A mutation missing here fails.
func TestEveryMutationWritesExactlyOneAuditEvent(t *testing.T) {
	t.Parallel()
	api, sim, vpp := newAuditAPI(t)
	admin := api.token("mdm.*")
	steps := auditSteps(t, api, admin, string(sim.TokenJSON()))
	steps = append(steps, locationAuditSteps(t, api, vpp)...)
	covered := map[string]bool{}
	for _, st := range steps {
		covered[st.mutation] = true
		before := auditCount(t, api)
		if res := api.query(admin, st.bad, nil); len(res.Errors) == 0 {
			t.Errorf("%s: the refusal case succeeded", st.mutation)
		}
		if n := auditCount(t, api); n != before {
			t.Errorf("%s: a refusal wrote %d audit events", st.mutation, n-before)
		}
		q, vars := st.good()
		res := api.query(admin, q, vars)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %+v", st.mutation, res.Errors)
		}
		if n := auditCount(t, api); n != before+1 {
			t.Errorf("%s: %d audit events, want exactly 1", st.mutation, n-before)
		}
		if st.keep != nil {
			st.keep(res.Data)
		}
	}
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
	for _, f := range schema.Mutation.Fields {
		if !covered[f.Name] {
			t.Errorf("mutation %s is not covered by the audit test", f.Name)
		}
	}
}

// newAuditAPI is the API with DEP and Apps and Books pointed at simulators.
func newAuditAPI(t *testing.T) (*testAPI, *depsim.Server, *vppsim.Server) {
	t.Helper()
	dep, vpp := depsim.New(depsim.Config{Devices: 5}), vppsim.New()
	depSrv, vppSrv := httptest.NewServer(dep), httptest.NewServer(vpp.Handler())
	t.Cleanup(depSrv.Close)
	t.Cleanup(vppSrv.Close)
	fast := func(int) time.Duration { return time.Millisecond }
	api := startTestAPI(t, func(_ *store.Store, cfg *service.Config, _ *jobs.Deps) {
		cfg.DEP = service.DEPConfig{BaseURL: depSrv.URL, Backoff: fast}
		cfg.AppsBooks = service.AppsBooksConfig{BaseURL: vppSrv.URL, Backoff: fast}
	}, nil)
	return api, dep, vpp
}

// auditCount counts the events callers' tokens wrote. Jobs a mutation queues
// (a profile reconcile, a location sync) audit what they do under their own
// actor, whenever they run: counting them would charge a later step.
func auditCount(t *testing.T, api *testAPI) int {
	t.Helper()
	var n int
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE actor LIKE 'token:%'").Scan(&n))
	return n
}

// fixed is a good case whose query does not depend on earlier answers.
func fixed(q string) func() (string, map[string]any) {
	return func() (string, map[string]any) { return q, nil }
}

// auditFixture is what the audit walk's steps act on.
type auditFixture struct {
	t       *testing.T
	api     *testAPI
	pc      *apnstest.PushCert
	devices []int64
	spare   store.Blueprint
	retired int64
	s       auditState
}

// d is the i-th device's GraphQL id.
func (f *auditFixture) d(i int) string { return fmt.Sprint(f.devices[i]) }

func newAuditFixture(t *testing.T, api *testAPI) *auditFixture {
	t.Helper()
	const topic = "com.apple.mgmt.External.audit-test"
	pc, err := apnstest.NewPushCert(topic, time.Now().AddDate(1, 0, 0))
	must(t, err)
	f := &auditFixture{t: t, api: api, pc: pc, devices: addDevices(t, api.store, 3, "macOS", nil)}
	_, err = api.store.Pool().Exec(context.Background(), `UPDATE enrolled_devices SET push_token = decode(md5(udid), 'hex'),
		push_magic = 'magic', push_topic = $1`, topic)
	must(t, err)
	f.spare, err = api.store.CreateBlueprint(context.Background(), "Spare")
	must(t, err)
	f.retired = addDevices(t, api.store, 1, "iOS", nil)[0]
	_, err = api.store.Pool().Exec(context.Background(), "UPDATE enrolled_devices SET blocked_at = now() WHERE id = $1", f.retired)
	must(t, err)
	return f
}

// auditSteps are every mutation, in an order where each finds what it needs.
func auditSteps(t *testing.T, api *testAPI, admin, depToken string) []auditStep {
	t.Helper()
	f := newAuditFixture(t, api)
	steps := append(f.pushAndBlueprintSteps(), f.profileAndEnrollmentSteps()...)
	steps = append(steps, f.deviceAndTokenSteps()...)
	return append(steps, depAuditSteps(&f.s, depToken)...)
}

// pushAndBlueprintSteps: push certificates and pushes, blueprints and their settings.
func (f *auditFixture) pushAndBlueprintSteps() []auditStep {
	s, pc, d, spare := &f.s, f.pc, f.d, f.spare
	return []auditStep{
		{mutation: "uploadPushCertificate", good: fixed(fmt.Sprintf(`mutation { uploadPushCertificate(input: {name: "main",
			certificate: %q, privateKey: %q}) { id } }`, pc.CertPEM, pc.KeyPEM)),
			bad:  `mutation { uploadPushCertificate(input: {name: "x", certificate: "x", privateKey: "y"}) { id } }`,
			keep: s.take(&s.pushCert, "uploadPushCertificate")},
		{mutation: "updatePushCertificate", good: func() (string, map[string]any) {
			return fmt.Sprintf(`mutation { updatePushCertificate(id: %q, input: {certificate: %q, privateKey: %q}) { id } }`,
				s.pushCert, pc.CertPEM, pc.KeyPEM), nil
		}, bad: `mutation { updatePushCertificate(id: "999999", input: {certificate: "x", privateKey: "y"}) { id } }`},
		{mutation: "pushDevice", good: fixed(`mutation { pushDevice(id: "` + d(0) + `") { id } }`),
			bad: `mutation { pushDevice(id: "999999") { id } }`},
		{mutation: "pushDevices", good: fixed(`mutation { pushDevices { deviceCount } }`),
			bad: `mutation { pushDevices(filter: {search: 5}) { deviceCount } }`},
		{mutation: "createBlueprint", good: fixed(`mutation { createBlueprint(input: {name: "Laptops"}) { id } }`),
			bad: `mutation { createBlueprint(input: {name: " "}) { id } }`, keep: s.take(&s.blueprint, "createBlueprint")},
		{mutation: "setSoftwareUpdateEnforcement", good: s.withBlueprint(`mutation($b: ID!) {
			setSoftwareUpdateEnforcement(blueprintId: $b, input: {platform: "macOS", latestMinusDays: 7}) { platform } }`),
			bad: `mutation { setSoftwareUpdateEnforcement(blueprintId: "1", input: {platform: "Amiga", latestMinusDays: 7}) { platform } }`},
		{mutation: "removeSoftwareUpdateEnforcement", good: s.withBlueprint(`mutation($b: ID!) {
			removeSoftwareUpdateEnforcement(blueprintId: $b, platform: "macOS") }`),
			bad: `mutation { removeSoftwareUpdateEnforcement(blueprintId: "1", platform: "Amiga") }`},
		{mutation: "updateBlueprint", good: s.withBlueprint(`mutation($b: ID!) { updateBlueprint(id: $b, input: {name: "Laptops 2"}) { id } }`),
			bad: `mutation { updateBlueprint(id: "999999", input: {name: "x"}) { id } }`},
		{mutation: "assignBlueprint", good: s.withBlueprint(`mutation($b: ID!) { assignBlueprint(deviceIds: ["` + d(0) + `"], blueprintId: $b) }`),
			bad: `mutation { assignBlueprint(deviceIds: [], blueprintId: "1") }`},
		{mutation: "syncBlueprintDeclarations", good: s.withBlueprint(`mutation($b: ID!) { syncBlueprintDeclarations(id: $b) }`),
			bad: `mutation { syncBlueprintDeclarations(id: "999999") }`},
		{mutation: "deleteBlueprint", good: fixed(`mutation { deleteBlueprint(id: "` + fmt.Sprint(spare.ID) + `") }`),
			bad: `mutation { deleteBlueprint(id: "999999") }`},
	}
}

// profileAndEnrollmentSteps: secrets a blueprint sets, profiles, enrollments.
func (f *auditFixture) profileAndEnrollmentSteps() []auditStep {
	t, api, s, d, devices := f.t, f.api, &f.s, f.d, f.devices
	return []auditStep{
		{mutation: "setRecoveryPassword", good: fixed(`mutation { setRecoveryPassword(deviceId: "` + d(0) + `") { uuid } }`),
			bad: `mutation { setRecoveryPassword(deviceId: "999999") { uuid } }`},
		{mutation: "rotateFileVaultKey", good: func() (string, map[string]any) {
			// An escrowed key to unlock the rotation with (set as an answer would, not audited).
			must(t, api.store.SetFileVaultPRK(context.Background(), devices[0], []byte("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")))
			return `mutation { rotateFileVaultKey(deviceId: "` + d(0) + `") { uuid } }`, nil
		}, bad: `mutation { rotateFileVaultKey(deviceId: "999999") { uuid } }`},
		{mutation: "uploadProfile", good: func() (string, map[string]any) {
			return `mutation($c: String!) { uploadProfile(content: $c) { id } }`, map[string]any{"c": wifiProfile("com.example.audit", "1")}
		}, bad: `mutation { uploadProfile(content: "not a plist") { id } }`, keep: s.take(&s.profile, "uploadProfile")},
		{mutation: "updateProfile", good: func() (string, map[string]any) {
			return `mutation($p: ID!, $c: String!) { updateProfile(id: $p, content: $c) { id } }`,
				map[string]any{"p": s.profile, "c": wifiProfile("com.example.audit", "2")}
		}, bad: `mutation { updateProfile(id: "999999", content: "x") { id } }`},
		{mutation: "setBlueprintProfiles", good: func() (string, map[string]any) {
			return `mutation($b: ID!, $p: [ID!]!) { setBlueprintProfiles(blueprintId: $b, profileIds: $p) { id } }`,
				map[string]any{"b": s.blueprint, "p": []string{s.profile}}
		}, bad: `mutation { setBlueprintProfiles(blueprintId: "999999", profileIds: []) { id } }`},
		{mutation: "deleteProfile", good: func() (string, map[string]any) {
			return `mutation($p: ID!) { deleteProfile(id: $p) }`, map[string]any{"p": s.profile}
		}, bad: `mutation { deleteProfile(id: "999999") }`},
	}
}

// deviceAndTokenSteps: commands, device actions and records, API tokens.
func (f *auditFixture) deviceAndTokenSteps() []auditStep {
	s, d, retired := &f.s, f.d, f.retired
	return []auditStep{
		{mutation: "syncSoftwareUpdates", good: fixed(`mutation { syncSoftwareUpdates { id } }`),
			bad: `mutation { syncSoftwareUpdates { noSuchField } }`},
		{mutation: "createEnrollment", good: fixed(`mutation { createEnrollment(input: {name: "Staff"}) { id } }`),
			bad: `mutation { createEnrollment(input: {name: "x", maxUses: 0}) { id } }`, keep: s.take(&s.enrollment, "createEnrollment")},
		{mutation: "deleteEnrollment", good: func() (string, map[string]any) {
			return `mutation { deleteEnrollment(id: "` + s.enrollment + `") }`, nil
		}, bad: `mutation { deleteEnrollment(id: "999999") }`},
		{mutation: "enqueueDeviceCommand", good: fixed(`mutation { enqueueDeviceCommand(deviceId: "` + d(0) +
			`", requestType: "DeviceInformation", payload: {Queries: ["OSVersion"]}) { uuid } }`),
			bad:  `mutation { enqueueDeviceCommand(deviceId: "` + d(0) + `", requestType: "Frobnicate") { uuid } }`,
			keep: s.takeField(&s.command, "enqueueDeviceCommand", "uuid")},
		{mutation: "cancelDeviceCommand", good: func() (string, map[string]any) {
			return `mutation { cancelDeviceCommand(uuid: "` + s.command + `") { uuid } }`, nil
		}, bad: `mutation { cancelDeviceCommand(uuid: "no-such-command") { uuid } }`},
		{mutation: "lockDevice", good: fixed(`mutation { lockDevice(id: "` + d(1) + `") { uuid } }`),
			bad: `mutation { lockDevice(id: "` + d(1) + `", input: {pin: "12"}) { uuid } }`},
		{mutation: "eraseDevice", good: fixed(`mutation { eraseDevice(id: "` + d(1) + `") { uuid } }`),
			bad: `mutation { eraseDevice(id: "999999") { uuid } }`},
		{mutation: "allowDeviceReenrollment", good: fixed(`mutation { allowDeviceReenrollment(deviceId: "` + d(2) + `") { id } }`),
			bad: `mutation { allowDeviceReenrollment(deviceId: "999999") { id } }`},
		{mutation: "deleteDevice", good: fixed(fmt.Sprintf(`mutation { deleteDevice(id: "%d") }`, retired)),
			bad: `mutation { deleteDevice(id: "` + d(0) + `") }`},
		{mutation: "blockDevice", good: fixed(`mutation { blockDevice(id: "` + d(2) + `") { id } }`),
			bad: `mutation { blockDevice(id: "999999") { id } }`},
		{mutation: "unblockDevice", good: fixed(`mutation { unblockDevice(id: "` + d(2) + `") { id } }`),
			bad: `mutation { unblockDevice(id: "999999") { id } }`},
		{mutation: "createAPIToken", good: fixed(`mutation { createAPIToken(name: "ci", permissions: ["mdm.view_job"], ttlSeconds: 600) {
			token apiToken { id } } }`),
			bad:  `mutation { createAPIToken(name: "ci", permissions: ["mdm.no_such_permission"]) { token } }`,
			keep: s.takeAPIToken},
		{mutation: "revokeAPIToken", good: func() (string, map[string]any) {
			return `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedAt } }`, map[string]any{"id": s.apiToken}
		}, bad: `mutation { revokeAPIToken(id: "no-such-token") { revokedAt } }`},
	}
}

// auditState carries ids from one step's answer to the next steps.
type auditState struct {
	pushCert, enrollment, command, depToken, depServer, depProfile, blueprint, profile string
	apiToken                                                                           string
}

// takeAPIToken keeps the id of the token createAPIToken made.
func (s *auditState) takeAPIToken(data []byte) {
	var out struct {
		CreateAPIToken struct{ APIToken struct{ ID string } }
	}
	if err := json.Unmarshal(data, &out); err == nil {
		s.apiToken = out.CreateAPIToken.APIToken.ID
	}
}

// withBlueprint is a good case on the blueprint made earlier ($b).
func (s *auditState) withBlueprint(q string) func() (string, map[string]any) {
	return func() (string, map[string]any) { return q, map[string]any{"b": s.blueprint} }
}

// take keeps answer.field.id.
func (s *auditState) take(dst *string, field string) func([]byte) {
	return s.takeField(dst, field, "id")
}

// takeField keeps answer.field.key.
func (s *auditState) takeField(dst *string, field, key string) func([]byte) {
	return func(data []byte) {
		var out map[string]map[string]any
		if json.Unmarshal(data, &out) == nil {
			*dst, _ = out[field][key].(string)
		}
	}
}

func depAuditSteps(s *auditState, depToken string) []auditStep {
	server := func(q string) func() (string, map[string]any) {
		return func() (string, map[string]any) { return q, map[string]any{"s": s.depServer, "p": s.depProfile} }
	}
	return []auditStep{
		{mutation: "createDEPToken", good: fixed(`mutation { createDEPToken(name: "abm") { id } }`),
			bad: `mutation { createDEPToken(name: "") { id } }`, keep: s.take(&s.depToken, "createDEPToken")},
		{mutation: "uploadDEPToken", good: func() (string, map[string]any) {
			return `mutation($id: ID!, $c: String) { uploadDEPToken(id: $id, content: $c) { virtualServer { id } } }`,
				map[string]any{"id": s.depToken, "c": depToken}
		}, bad: `mutation { uploadDEPToken(id: "999999", content: "{}") { id } }`, keep: func(data []byte) {
			var out struct {
				UploadDEPToken struct{ VirtualServer struct{ ID string } }
			}
			if json.Unmarshal(data, &out) == nil {
				s.depServer = out.UploadDEPToken.VirtualServer.ID
			}
		}},
		{mutation: "syncDEPVirtualServer", good: server(`mutation($s: ID!) { syncDEPVirtualServer(id: $s) { id } }`),
			bad: `mutation { syncDEPVirtualServer(id: "999999") { id } }`},
		{mutation: "createDEPProfile", good: server(`mutation($s: ID!) { createDEPProfile(input: {virtualServerId: $s, name: "Staff"}) { id } }`),
			bad: `mutation { createDEPProfile(input: {virtualServerId: "999999", name: " "}) { id } }`, keep: s.take(&s.depProfile, "createDEPProfile")},
		{mutation: "updateDEPProfile", good: server(`mutation($s: ID!, $p: ID!) { updateDEPProfile(id: $p, input: {virtualServerId: $s, name: "Staff 2"}) { id } }`),
			bad: `mutation { updateDEPProfile(id: "999999", input: {virtualServerId: "1", name: "x"}) { id } }`},
		{mutation: "assignDEPProfile", good: server(`mutation($p: ID!) { assignDEPProfile(id: $p, serialNumbers: ["SIM000000001"]) { result } }`),
			bad: `mutation { assignDEPProfile(id: "1", serialNumbers: []) { result } }`},
		{mutation: "setDEPDefaultProfile", good: server(`mutation($s: ID!, $p: ID) { setDEPDefaultProfile(virtualServerId: $s, profileId: $p) { id } }`),
			bad: `mutation { setDEPDefaultProfile(virtualServerId: "999999") { id } }`},
		{mutation: "removeDEPProfile", good: server(`mutation($s: ID!) { removeDEPProfile(virtualServerId: $s, serialNumbers: ["SIM000000001"]) { result } }`),
			bad: `mutation { removeDEPProfile(virtualServerId: "1", serialNumbers: []) { result } }`},
		{mutation: "deleteDEPProfile", good: server(`mutation($p: ID!) { deleteDEPProfile(id: $p) }`),
			bad: `mutation { deleteDEPProfile(id: "999999") }`},
	}
}

// locationAuditSteps are the Apps and Books mutations, on a simulated
// location with a few assets (synced by the job the steps queue).
func locationAuditSteps(t *testing.T, api *testAPI, vpp *vppsim.Server) []auditStep {
	loc, stoken := vpp.NewLocation(vppsim.Location{Name: "Berlin", OrgName: "Acme", Country: "DE", Platform: "enterprisestore"})
	vpp.AddAssets(loc, 2, 5)
	device := fmt.Sprint(addDevices(t, api.store, 1, "iOS", nil)[0])
	var location string
	withLocation := func(q string) func() (string, map[string]any) {
		return func() (string, map[string]any) { return q, map[string]any{"l": location, "c": stoken} }
	}
	withAsset := func(q string) func() (string, map[string]any) {
		return func() (string, map[string]any) {
			return q, map[string]any{"a": syncedAsset(t, api), "d": []string{device}}
		}
	}
	keepLocation := func(data []byte) {
		var out struct{ UploadLocationToken struct{ ID string } }
		if json.Unmarshal(data, &out) == nil {
			location = out.UploadLocationToken.ID
		}
	}
	return []auditStep{
		{mutation: "uploadLocationToken", good: fixed(`mutation { uploadLocationToken(content: "` + stoken + `") { id } }`),
			bad: `mutation { uploadLocationToken(content: "garbage") { id } }`, keep: keepLocation},
		{mutation: "renewLocationToken", good: withLocation(`mutation($l: ID!, $c: String) { renewLocationToken(id: $l, content: $c) { id } }`),
			bad: `mutation { renewLocationToken(id: "999999", content: "garbage") { id } }`},
		{mutation: "syncLocation", good: withLocation(`mutation($l: ID!) { syncLocation(id: $l) { id } }`),
			bad: `mutation { syncLocation(id: "999999") { id } }`},
		{mutation: "assignAsset", good: withAsset(`mutation($a: ID!, $d: [ID!]!) { assignAsset(locationAssetId: $a, deviceIds: $d) { id } }`),
			bad: `mutation { assignAsset(locationAssetId: "999999", deviceIds: ["1"]) { id } }`},
		{mutation: "unassignAsset", good: withAsset(`mutation($a: ID!, $d: [ID!]!) { unassignAsset(locationAssetId: $a, deviceIds: $d) { id } }`),
			bad: `mutation { unassignAsset(locationAssetId: "999999", deviceIds: ["1"]) { id } }`},
		{mutation: "deleteLocation", good: withLocation(`mutation($l: ID!) { deleteLocation(id: $l) }`),
			bad: `mutation { deleteLocation(id: "999999") }`},
	}
}

// syncedAsset waits for the location sync the steps queued and returns an asset id.
func syncedAsset(t *testing.T, api *testAPI) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var id int64
		err := api.store.Pool().QueryRow(context.Background(), "SELECT id FROM location_assets ORDER BY id LIMIT 1").Scan(&id)
		if err == nil {
			return fmt.Sprint(id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no location asset after the sync: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
