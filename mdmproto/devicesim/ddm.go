package devicesim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
)

// DDM is what the device knows of its declarations after a sync.
type DDM struct {
	Tokens       ddm.SyncTokens
	Items        ddm.DeclarationItems
	Declarations map[string]ddm.Declaration // by kind/identifier
}

// DeclarativeManagement sends a DeclarativeManagement check-in and returns
// the answer's body.
func (d *Device) DeclarativeManagement(ctx context.Context, endpoint string, data []byte) ([]byte, error) {
	return d.Checkin(ctx, &mdmproto.CheckinMessage{MessageType: mdmproto.DeclarativeManagement,
		Enrollment: mdmproto.Enrollment{UDID: d.UDID}, Endpoint: endpoint, Data: data})
}

// SyncDeclarations does what a device does when its tokens change: fetch
// the tokens, the declaration items and each declaration, then report every
// declaration's status (valid and active, unless status says otherwise).
func (d *Device) SyncDeclarations(ctx context.Context, status func(ddm.Declaration) ddm.DeclarationStatus) (*DDM, error) {
	var out DDM
	if err := d.ddmGet(ctx, ddm.EndpointTokens, &struct{ SyncTokens *ddm.SyncTokens }{&out.Tokens}); err != nil {
		return nil, err
	}
	if err := d.ddmGet(ctx, ddm.EndpointDeclarationItems, &out.Items); err != nil {
		return nil, err
	}
	out.Declarations = map[string]ddm.Declaration{}
	report := map[string][]ddm.DeclarationStatus{}
	m := out.Items.Declarations
	for kind, list := range map[string][]ddm.ManifestItem{ddm.KindActivation: m.Activations,
		ddm.KindConfiguration: m.Configurations, ddm.KindAsset: m.Assets, ddm.KindManagement: m.Management} {
		for _, item := range list {
			var decl ddm.Declaration
			if err := d.ddmGet(ctx, "declaration/"+kind+"/"+item.Identifier, &decl); err != nil {
				return nil, err
			}
			out.Declarations[kind+"/"+item.Identifier] = decl
			st := ddm.DeclarationStatus{Identifier: decl.Identifier, ServerToken: decl.ServerToken, Active: true, Valid: "valid"}
			if status != nil {
				st = status(decl)
			}
			report[kind+"s"] = append(report[kind+"s"], st)
		}
	}
	report["management"] = report["managements"]
	delete(report, "managements")
	items := map[string]any{"management": map[string]any{"declarations": report}}
	if out.subscribed() {
		d.addSubscribedItems(items)
	}
	return &out, d.SendStatus(ctx, map[string]any{"StatusItems": items, "Errors": []any{}, "FullReport": true})
}

// subscribed reports whether the declarations subscribe to status items.
func (s *DDM) subscribed() bool {
	for _, decl := range s.Declarations {
		if decl.Type == "com.apple.configuration.management.status-subscriptions" {
			return true
		}
	}
	return false
}

// addSubscribedItems adds the device's OS and software update status items,
// nested as a device reports them, with no update pending.
func (d *Device) addSubscribedItems(items map[string]any) {
	items["device"] = map[string]any{"operating-system": map[string]any{"version": d.OSVersion,
		"build-version": d.BuildVersion}}
	items["softwareupdate"] = map[string]any{"device-id": d.SoftwareUpdateDeviceID, "install-state": "none",
		"pending-version": map[string]any{"os-version": "", "build-version": ""},
		"failure-reason":  map[string]any{"count": 0}}
}

// SendStatus sends a status report (any JSON value).
func (d *Device) SendStatus(ctx context.Context, report any) error {
	data, err := json.Marshal(report)
	if err != nil {
		return err
	}
	_, err = d.DeclarativeManagement(ctx, ddm.EndpointStatus, data)
	return err
}

func (d *Device) ddmGet(ctx context.Context, endpoint string, v any) error {
	body, err := d.DeclarativeManagement(ctx, endpoint, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: server sent bad JSON: %w", endpoint, err)
	}
	return nil
}

// FetchProfileAsset downloads a legacy declaration's ProfileURL with the
// device's identity, as devices do.
func (d *Device) FetchProfileAsset(ctx context.Context, profileURL string) ([]byte, error) {
	u, err := url.Parse(profileURL)
	if err != nil {
		return nil, err
	}
	// The declaration names the public URL; the simulator talks to the
	// server it enrolled with.
	base, err := url.Parse(d.Profile.ServerURL)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = base.Scheme, base.Host
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if err := d.identify(req, nil); err != nil {
		return nil, err
	}
	status, body, err := d.do(req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Status: status, Body: string(body)}
	}
	return body, nil
}
