package graph_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
)

// Acceptance 3: the simulator syncs its declarations over the check-in
// channel; a blueprint change gives a new token and one DeclarativeManagement
// command per device; status reports show in Device.declarationStatus.
func TestDeclarativeManagementOverCheckin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newProfileAPI(t)
	tok := api.token("mdm.*")
	d, bpID := api.enrollOnBlueprint(t, tok, "DDM Macs")
	setProfiles := `mutation($b: ID!, $p: [ID!]!) { setBlueprintProfiles(blueprintId: $b, profileIds: $p) { id } }`
	upload := `mutation($c: String!) { uploadProfile(content: $c) { id } }`
	var p1 struct{ UploadProfile struct{ ID string } }
	api.query(tok, upload, map[string]any{"c": wifiProfile("com.example.ddm", "1")}).decode(t, &p1)
	api.query(tok, setProfiles, map[string]any{"b": bpID, "p": []string{p1.UploadProfile.ID}}).decode(t, &struct{}{})
	waitCommands(t, api.testAPI, d.UDID, "DeclarativeManagement", 1)

	first, profileURL := checkFirstDeclarationSync(t, ctx, d)

	devID := *deviceIDOf(t, api.testAPI, d.UDID)
	if got := declarationStatus(t, api, tok, devID); len(got) != 4 || !got[0].Active || got[0].Valid != "valid" {
		t.Fatalf("declaration status = %+v", got)
	}
	checkSubscribedStatus(t, api, tok, devID, d)

	// A blueprint change: a new token, one more DeclarativeManagement command.
	var p2 struct{ UploadProfile struct{ ID string } }
	api.query(tok, upload, map[string]any{"c": wifiProfile("com.example.ddm2", "2")}).decode(t, &p2)
	api.query(tok, setProfiles, map[string]any{"b": bpID, "p": []string{p1.UploadProfile.ID, p2.UploadProfile.ID}}).decode(t, &struct{}{})
	waitCommands(t, api.testAPI, d.UDID, "DeclarativeManagement", 2)
	d.SyncRequests = nil
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := d.SyncDeclarations(ctx, func(decl ddm.Declaration) ddm.DeclarationStatus {
		return ddm.DeclarationStatus{Identifier: decl.Identifier, ServerToken: decl.ServerToken, Valid: "invalid",
			Reasons: []ddm.Reason{{Code: "Error.ConfigurationCannotBeApplied"}}}
	})
	must(t, err)
	if second.Tokens.DeclarationsToken == first.Tokens.DeclarationsToken || len(d.SyncRequests) != 2 ||
		d.SyncRequests[len(d.SyncRequests)-1].DeclarationsToken != second.Tokens.DeclarationsToken {
		t.Fatalf("tokens after the change: %v then %v; commands carried %+v", first.Tokens, second.Tokens, d.SyncRequests)
	}
	if got := declarationStatus(t, api, tok, devID); len(got) != 5 || got[0].Valid != "invalid" {
		t.Fatalf("declaration status after the change = %+v", got)
	}

	checkDDMRefusals(t, api, tok, d, devID)

	// Another device, on another blueprint, cannot fetch this blueprint's profile.
	other, _ := api.enrollOnBlueprint(t, tok, "Other")
	if _, err := other.FetchProfileAsset(ctx, profileURL); !isHTTP(err, http.StatusNotFound) {
		t.Fatalf("another blueprint's profile: %v, want 404", err)
	}
}

// checkFirstDeclarationSync syncs once, checks the items and the signed legacy profile asset, and returns the sync and the asset's URL.
func checkFirstDeclarationSync(t *testing.T, ctx context.Context, d *devicesim.Device) (*devicesim.DDM, string) {
	t.Helper()
	first, err := d.SyncDeclarations(ctx, nil)
	must(t, err)
	items := first.Items.Declarations
	// Configurations: the legacy profile and the status subscriptions.
	if len(items.Activations) != 1 || len(items.Configurations) != 2 || len(items.Management) != 1 || first.Tokens.DeclarationsToken == "" {
		t.Fatalf("declaration items = %+v", first.Items)
	}
	legacy := first.Declarations["configuration/orchard.legacy.com.example.ddm"]
	profileURL, _ := legacy.Payload["ProfileURL"].(string)
	asset, err := d.FetchProfileAsset(ctx, profileURL)
	must(t, err)
	parsed, err := mdmproto.ParseConfigProfile(asset)
	if err != nil || parsed.Signer == nil || parsed.Identifier != "com.example.ddm" {
		t.Fatalf("legacy profile asset: %+v, %v", parsed, err)
	}
	return first, profileURL
}

// checkDDMRefusals: unknown declarations get 404, requests and status
// reports that do not parse 400; nothing is stored and the device is not
// locked out.
func checkDDMRefusals(t *testing.T, api *profileAPI, tok string, d *devicesim.Device, devID int64) {
	t.Helper()
	ctx := context.Background()
	for endpoint, want := range map[string]int{"declaration/configuration/nope": http.StatusNotFound,
		"declaration/bogus/x": http.StatusBadRequest, "nonsense": http.StatusBadRequest} {
		if _, err := d.DeclarativeManagement(ctx, endpoint, nil); !isHTTP(err, want) {
			t.Errorf("%s: %v, want %d", endpoint, err, want)
		}
	}
	before := declarationStatus(t, api, tok, devID)
	for _, bad := range []string{"{", `{"Errors": []}`, `{"StatusItems": {"management": {"declarations": {"activations": [{"identifier": "x", "valid": "perhaps"}]}}}}`} {
		if _, err := d.DeclarativeManagement(ctx, ddm.EndpointStatus, []byte(bad)); !isHTTP(err, http.StatusBadRequest) {
			t.Errorf("status %s: %v, want 400", bad, err)
		}
	}
	if after := declarationStatus(t, api, tok, devID); len(after) != len(before) || after[0] != before[0] {
		t.Fatalf("bad reports changed the stored status: %+v", after)
	}
	if _, err := d.DeclarativeManagement(ctx, ddm.EndpointTokens, nil); err != nil {
		t.Fatalf("device locked out after bad requests: %v", err)
	}
}

type declarationStatusNode struct {
	Kind, Identifier, Valid string
	Active                  bool
}

func declarationStatus(t *testing.T, api *profileAPI, tok string, devID int64) []declarationStatusNode {
	t.Helper()
	var got struct {
		Device struct{ DeclarationStatus []declarationStatusNode }
	}
	api.query(tok, `query($id: ID!) { device(id: $id) { declarationStatus { kind identifier valid active } } }`,
		map[string]any{"id": devID}).decode(t, &got)
	return got.Device.DeclarationStatus
}

// checkSubscribedStatus: the status items the blueprint's declarations
// subscribe to, which the simulator then reports, reach the device's record.
func checkSubscribedStatus(t *testing.T, api *profileAPI, tok string, devID int64, d *devicesim.Device) {
	t.Helper()
	var got struct {
		Device struct {
			OSVersion, SoftwareUpdateDeviceID string
			SoftwareUpdateStatus              *struct {
				InstallState     *string
				PendingOsVersion *string
				FailureCount     *int
			}
		}
	}
	api.query(tok, `query($id: ID!) { device(id: $id) { osVersion softwareUpdateDeviceId
		softwareUpdateStatus { installState pendingOsVersion failureCount } } }`, map[string]any{"id": devID}).decode(t, &got)
	su := got.Device.SoftwareUpdateStatus
	if got.Device.OSVersion != d.OSVersion || got.Device.SoftwareUpdateDeviceID != d.SoftwareUpdateDeviceID || su == nil ||
		su.InstallState == nil || *su.InstallState != "none" || su.PendingOsVersion == nil || *su.PendingOsVersion != "" ||
		su.FailureCount == nil || *su.FailureCount != 0 {
		t.Fatalf("device after a subscribed status report: %+v, software update %+v", got.Device, su)
	}
}

func isHTTP(err error, status int) bool {
	var h *devicesim.HTTPError
	return errors.As(err, &h) && h.Status == status
}
