package graph_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/smallstep/pkcs7"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// newDEPAPI is the GraphQL endpoint with DEP pointed at a simulator.
func newDEPAPI(t *testing.T, devices int) (*testAPI, *depsim.Server) {
	t.Helper()
	sim := depsim.New(depsim.Config{Devices: devices})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	api := startTestAPI(t, func(_ *store.Store, cfg *service.Config, _ *jobs.Deps) {
		cfg.DEP = service.DEPConfig{BaseURL: simSrv.URL, Backoff: func(int) time.Duration { return time.Millisecond }}
	}, nil)
	return api, sim
}

// encryptToken makes the smime.p7m Apple Business Manager would give for cert.
func encryptToken(t *testing.T, certPEM string, payload []byte) string {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatalf("certificatePem is not PEM: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	must(t, err)
	plain := "Content-Type: text/plain;charset=UTF-8\r\n\r\n-----BEGIN MESSAGE-----\r\n" + string(payload) + "\r\n-----END MESSAGE-----\r\n"
	der, err := pkcs7.Encrypt([]byte(plain), []*x509.Certificate{cert})
	must(t, err)
	return "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(der) + "\r\n"
}

type depToken struct {
	ID              string
	CertificatePem  string
	ConsumerKey     string
	DaysUntilExpiry *int
	VirtualServer   *struct{ ID, UUID, Name, OrgName, SyncPhase string }
}

const depTokenFields = `id certificatePem consumerKey daysUntilExpiry virtualServer { id uuid name orgName syncPhase }`

func (a *testAPI) createDEPToken(tok, name string) depToken {
	a.t.Helper()
	var out struct{ CreateDEPToken depToken }
	a.query(tok, `mutation($n: String!) { createDEPToken(name: $n) { `+depTokenFields+` } }`, map[string]any{"n": name}).decode(a.t, &out)
	return out.CreateDEPToken
}

func TestDEPTokenUploadDecryptsTheP7MAndRefusesBadTokens(t *testing.T) {
	t.Parallel()
	api, sim := newDEPAPI(t, 3)
	admin := api.token("mdm.change_depvirtualserver", "mdm.view_depvirtualserver")
	created := api.createDEPToken(admin, "main")
	other := api.createDEPToken(admin, "other")
	if created.VirtualServer != nil || created.DaysUntilExpiry != nil || !strings.Contains(created.CertificatePem, "BEGIN CERTIFICATE") {
		t.Fatalf("new token %+v", created)
	}
	upload := `mutation($id: ID!, $c: String) { uploadDEPToken(id: $id, content: $c) { ` + depTokenFields + ` } }`

	c := sim.Credentials()
	expired := fmt.Sprintf(`{"consumer_key":%q,"consumer_secret":%q,"access_token":%q,"access_secret":%q,"access_token_expiry":"2001-01-01T00:00:00Z"}`,
		c.ConsumerKey, c.ConsumerSecret, c.AccessToken, c.AccessSecret)
	for name, tc := range map[string]struct{ content, want string }{
		"another key": {encryptToken(t, other.CertificatePem, sim.TokenJSON()), "another certificate"},
		"garbage":     {"definitely not a token", "neither an smime.p7m nor an stoken.json"},
		"expired":     {expired, "expired on 2001-01-01"},
	} {
		res := api.query(admin, upload, map[string]any{"id": created.ID, "c": tc.content})
		if res.code() != graph.CodeBadUserInput || !strings.Contains(res.Errors[0].Message, tc.want) {
			t.Fatalf("%s: %+v, want BAD_USER_INPUT mentioning %q", name, res.Errors, tc.want)
		}
	}
	var list struct{ DepTokens []depToken }
	api.query(admin, `{ depTokens { `+depTokenFields+` } }`, nil).decode(t, &list)
	if len(list.DepTokens) != 2 || list.DepTokens[0].ConsumerKey != "" || list.DepTokens[0].VirtualServer != nil {
		t.Fatalf("refused uploads changed the token: %+v", list.DepTokens)
	}

	var out struct{ UploadDEPToken depToken }
	api.query(admin, upload, map[string]any{"id": created.ID, "c": encryptToken(t, created.CertificatePem, sim.TokenJSON())}).decode(t, &out)
	got := out.UploadDEPToken
	if got.ConsumerKey != sim.Credentials().ConsumerKey || got.DaysUntilExpiry == nil || *got.DaysUntilExpiry < 363 ||
		got.VirtualServer == nil || got.VirtualServer.OrgName != "Simulated Organization" || got.VirtualServer.SyncPhase != "FETCH" {
		t.Fatalf("uploaded token %+v (server %+v)", got, got.VirtualServer)
	}
	// Renewal: the same key, a plain stoken.json this time, the same server.
	api.query(admin, upload, map[string]any{"id": created.ID, "c": string(sim.TokenJSON())}).decode(t, &out)
	if out.UploadDEPToken.VirtualServer.ID != got.VirtualServer.ID {
		t.Fatalf("renewal moved the server: %+v", out.UploadDEPToken.VirtualServer)
	}
	// Another token for a server orchard already serves is refused.
	res := api.query(admin, upload, map[string]any{"id": other.ID, "c": string(sim.TokenJSON())})
	if res.code() != graph.CodeBadUserInput || !strings.Contains(res.Errors[0].Message, "already served by DEP token") {
		t.Fatalf("second token for the server: %+v", res.Errors)
	}
	if res := api.query(api.token("mdm.view_depvirtualserver"), upload, map[string]any{"id": created.ID, "c": "x"}); res.code() != graph.CodeForbidden {
		t.Fatalf("upload without change permission: %+v", res.Errors)
	}
}

type depDevicePage struct {
	DepDevices struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   string
		}
		Edges []struct {
			Node struct {
				SerialNumber, ProfileStatus, Model string
				Profile                            *struct{ Name string }
				VirtualServer                      struct{ UUID string }
			}
		}
	}
}

func TestDEPSyncDevicesAndProfilesThroughGraphQL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api, sim := newDEPAPI(t, 250)
	admin := api.token("mdm.*")
	server := uploadAndSyncDEP(ctx, t, api, admin, sim)
	serverID := server.ID
	checkDEPDevicePages(t, api, admin, serverID, 250)
	profileID := createDEPProfileAndRefuseBadOnes(t, api, admin, serverID)
	assignDEPProfileThroughGraphQL(t, api, admin, profileID)
	checkDEPDetailsAndRemove(t, api, admin, sim, serverID, server.UUID)
	if res := api.query(admin, `{ depDevices(filter: {opType: "exploded"}) { totalCount } }`, nil); res.code() != graph.CodeBadUserInput {
		t.Fatalf("bad opType: %+v", res.Errors)
	}
	for _, serial := range []string{"C02\u0000X", strings.Repeat("S", 257)} {
		res := api.query(admin, `query($s: String) { depDevices(filter: {serialNumber: $s}) { totalCount } }`, map[string]any{"s": serial})
		if res.code() != graph.CodeBadUserInput {
			t.Fatalf("serial number %.20q: %+v", serial, res.Errors)
		}
	}
}

// uploadAndSyncDEP uploads the simulator's token and runs a sync to its end.
func uploadAndSyncDEP(ctx context.Context, t *testing.T, api *testAPI, admin string, sim *depsim.Server) struct{ ID, UUID, Name, OrgName, SyncPhase string } {
	t.Helper()
	tok := api.createDEPToken(admin, "main")
	var up struct{ UploadDEPToken depToken }
	api.query(admin, `mutation($id: ID!, $c: String) { uploadDEPToken(id: $id, content: $c) { `+depTokenFields+` } }`,
		map[string]any{"id": tok.ID, "c": string(sim.TokenJSON())}).decode(t, &up)
	serverID := up.UploadDEPToken.VirtualServer.ID

	var job struct{ SyncDEPVirtualServer struct{ ID, Kind string } }
	api.query(admin, `mutation($id: ID!) { syncDEPVirtualServer(id: $id) { id kind } }`, map[string]any{"id": serverID}).decode(t, &job)
	id, err := strconv.ParseInt(job.SyncDEPVirtualServer.ID, 10, 64)
	must(t, err)
	waitJobState(ctx, t, api, id, rivertype.JobStateCompleted)
	var done struct {
		Job struct{ Output map[string]any }
	}
	api.query(admin, `query($id: ID!) { job(id: $id) { output } }`, map[string]any{"id": job.SyncDEPVirtualServer.ID}).decode(t, &done)
	if done.Job.Output["added"] != float64(250) {
		t.Fatalf("sync output %+v", done.Job.Output)
	}
	return *up.UploadDEPToken.VirtualServer
}

// checkDEPDevicePages walks keyset pages over every device of a server.
func checkDEPDevicePages(t *testing.T, api *testAPI, admin, serverID string, want int) {
	t.Helper()
	seen, after := map[string]bool{}, ""
	for {
		var page depDevicePage
		api.query(admin, `query($f: DEPDeviceFilter, $a: String) { depDevices(filter: $f, first: 100, after: $a) {
			totalCount pageInfo { hasNextPage endCursor } edges { node { serialNumber profileStatus model virtualServer { uuid } } } } }`,
			map[string]any{"f": map[string]any{"virtualServerId": serverID}, "a": after}).decode(t, &page)
		for _, e := range page.DepDevices.Edges {
			seen[e.Node.SerialNumber] = true
		}
		if page.DepDevices.TotalCount != want {
			t.Fatalf("totalCount %d", page.DepDevices.TotalCount)
		}
		if !page.DepDevices.PageInfo.HasNextPage {
			break
		}
		after = page.DepDevices.PageInfo.EndCursor
	}
	if len(seen) != want {
		t.Fatalf("paged over %d devices", len(seen))
	}
}

// createDEPProfileAndRefuseBadOnes creates profile "Staff" and returns its id.
func createDEPProfileAndRefuseBadOnes(t *testing.T, api *testAPI, admin, serverID string) string {
	t.Helper()
	var created struct {
		CreateDEPProfile struct{ ID, UUID, URL string }
	}
	api.query(admin, `mutation($s: ID!) { createDEPProfile(input: {virtualServerId: $s, name: "Staff", isMandatory: true,
		skipSetupItems: ["Siri"], department: "IT"}) { id uuid url } }`, map[string]any{"s": serverID}).decode(t, &created)
	for name, input := range map[string]string{
		"taken name":          `{virtualServerId: $s, name: "Staff"}`,
		"unsupervised locked": `{virtualServerId: $s, name: "Kiosk", isSupervised: false, isMdmRemovable: false}`,
		"bad anchor cert":     `{virtualServerId: $s, name: "Anchored", anchorCerts: ["bm90IGEgY2VydA=="]}`,
	} {
		res := api.query(admin, `mutation($s: ID!) { createDEPProfile(input: `+input+`) { id } }`, map[string]any{"s": serverID})
		if res.code() != graph.CodeBadUserInput {
			t.Errorf("%s: %+v, want BAD_USER_INPUT", name, res.Errors)
		}
	}
	if profiles, err := api.store.ListDEPProfiles(context.Background(), 0); err != nil || len(profiles) != 1 {
		t.Fatalf("refused profiles were stored: %d profiles, %v", len(profiles), err)
	}
	enrollment, err := api.store.DEPEnrollment(context.Background(), "Staff")
	must(t, err)
	if !enrollment.DEP || created.CreateDEPProfile.UUID == "" ||
		created.CreateDEPProfile.URL != "https://orchard.example.com/enroll/"+enrollment.Secret {
		t.Fatalf("profile %+v", created.CreateDEPProfile)
	}
	return created.CreateDEPProfile.ID
}

func assignDEPProfileThroughGraphQL(t *testing.T, api *testAPI, admin, profileID string) {
	t.Helper()
	var assigned struct {
		AssignDEPProfile []struct{ SerialNumber, Result string }
	}
	api.query(admin, `mutation($p: ID!) { assignDEPProfile(id: $p, serialNumbers: ["SIM000000001", "NOPE"]) { serialNumber result } }`,
		map[string]any{"p": profileID}).decode(t, &assigned)
	if len(assigned.AssignDEPProfile) != 2 || assigned.AssignDEPProfile[0].Result != dep.ResultNotAccessible ||
		assigned.AssignDEPProfile[1].Result != dep.ResultSuccess {
		t.Fatalf("assign %+v", assigned.AssignDEPProfile)
	}
	var page depDevicePage
	api.query(admin, `{ depDevices(filter: {profileStatus: "assigned"}) { totalCount pageInfo { hasNextPage } edges { node { serialNumber profileStatus model profile { name } virtualServer { uuid } } } } }`, nil).decode(t, &page)
	if page.DepDevices.TotalCount != 1 || page.DepDevices.Edges[0].Node.Profile == nil || page.DepDevices.Edges[0].Node.Profile.Name != "Staff" {
		t.Fatalf("assigned devices %+v", page.DepDevices)
	}
	// The profile URL holds the DEP enrollment's secret: reaching the profile
	// through a DEP device does not reveal it without mdm.view_depenrollment.
	viewer := api.token("mdm.view_depdevice")
	res := api.query(viewer, `{ depDevices(filter: {profileStatus: "assigned"}) { edges { node { profile { name url } } } } }`, nil)
	if res.code() != graph.CodeForbidden || strings.Contains(string(res.Data), "/enroll/") {
		t.Fatalf("profile URL through depDevices without mdm.view_depenrollment: %s %+v", res.Data, res.Errors)
	}
}

func checkDEPDetailsAndRemove(t *testing.T, api *testAPI, admin string, sim *depsim.Server, serverID, serverUUID string) {
	t.Helper()
	var details struct {
		DepDeviceDetails []struct {
			SerialNumber, ResponseStatus string
			ProfileStatus                *string
		}
		DepAccount struct{ ServerUuid, OrgName string }
	}
	api.query(admin, `query($s: ID!) { depDeviceDetails(virtualServerId: $s, serialNumbers: ["SIM000000001", "NOPE"]) { serialNumber responseStatus profileStatus }
		depAccount(virtualServerId: $s) { serverUuid orgName } }`, map[string]any{"s": serverID}).decode(t, &details)
	if d := details.DepDeviceDetails; len(d) != 2 || d[0].ProfileStatus == nil || *d[0].ProfileStatus != "assigned" || d[1].ResponseStatus != "NOT_ACCESSIBLE" {
		t.Fatalf("details %+v", d)
	}
	if details.DepAccount.ServerUuid != serverUUID {
		t.Fatalf("account %+v", details.DepAccount)
	}
	var removed struct {
		RemoveDEPProfile []struct{ SerialNumber, Result string }
	}
	api.query(admin, `mutation($s: ID!) { removeDEPProfile(virtualServerId: $s, serialNumbers: ["SIM000000001"]) { serialNumber result } }`,
		map[string]any{"s": serverID}).decode(t, &removed)
	if d, _ := sim.Device("SIM000000001"); d.ProfileStatus != dep.ProfileRemoved || removed.RemoveDEPProfile[0].Result != dep.ResultSuccess {
		t.Fatalf("after remove: %+v, %+v", d, removed)
	}
}

func TestDEPTokenUploadAsMultipartFile(t *testing.T) {
	t.Parallel()
	api, sim := newDEPAPI(t, 1)
	admin := api.token("mdm.change_depvirtualserver")
	created := api.createDEPToken(admin, "main")
	block, _ := pem.Decode([]byte(created.CertificatePem))
	cert, err := x509.ParseCertificate(block.Bytes)
	must(t, err)
	der, err := pkcs7.Encrypt(append([]byte("-----BEGIN MESSAGE-----\n"), append(sim.TokenJSON(), "\n-----END MESSAGE-----"...)...),
		[]*x509.Certificate{cert})
	must(t, err)

	// The GraphQL multipart request spec: operations, map, then the file part.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	must(t, mw.WriteField("operations", `{"query":"mutation($id: ID!, $f: Upload) { uploadDEPToken(id: $id, file: $f) { consumerKey } }",`+
		`"variables":{"id":"`+created.ID+`","f":null}}`))
	must(t, mw.WriteField("map", `{"0":["variables.f"]}`))
	part, err := mw.CreateFormFile("0", "Main_Token_2026-12-02T04-00-00Z_smime.p7m")
	must(t, err)
	_, err = part.Write(der)
	must(t, err)
	must(t, mw.Close())
	req, _ := http.NewRequest(http.MethodPost, api.server.URL+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	var out gqlResponse
	must(t, json.NewDecoder(res.Body).Decode(&out))
	var data struct{ UploadDEPToken struct{ ConsumerKey string } }
	out.decode(t, &data)
	if data.UploadDEPToken.ConsumerKey != sim.Credentials().ConsumerKey {
		t.Fatalf("uploaded %+v", data)
	}
}
