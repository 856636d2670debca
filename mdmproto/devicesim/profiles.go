package devicesim

import (
	"crypto/x509"
	"encoding/json"
	"fmt"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
)

// InstalledProfile is a configuration profile the simulated device holds.
type InstalledProfile struct {
	Identifier string
	// Signer signed the InstallProfile payload (nil when it came unsigned).
	Signer *x509.Certificate
	// Content is the profile's plist.
	Content []byte
	// Installs counts how many times it was installed.
	Installs int
}

// answerProfile answers InstallProfile (verifying a signed payload, as a
// device does), RemoveProfile and ProfileList from the device's profiles,
// and records the tokens of DeclarativeManagement commands.
func (d *Device) answerProfile(cmd *Command) (status string, fields map[string]any, ok bool) {
	if d.profiles == nil {
		d.profiles = map[string]*InstalledProfile{}
	}
	switch cmd.RequestType {
	case "InstallProfile":
		payload, isData := cmd.Fields["Payload"].([]byte)
		if !isData {
			return profileError("Payload is not <data>")
		}
		p, err := mdmproto.ParseConfigProfile(payload)
		if err != nil {
			return profileError(err.Error())
		}
		prev := d.profiles[p.Identifier]
		d.profiles[p.Identifier] = &InstalledProfile{Identifier: p.Identifier, Signer: p.Signer, Content: p.Content,
			Installs: installs(prev) + 1}
		return mdmproto.StatusAcknowledged, nil, true
	case "RemoveProfile":
		id, _ := cmd.Fields["Identifier"].(string)
		if _, held := d.profiles[id]; !held {
			return profileError(fmt.Sprintf("no profile %q", id))
		}
		delete(d.profiles, id)
		return mdmproto.StatusAcknowledged, nil, true
	case "DeclarativeManagement":
		// A device syncs its declarations after this; tests run the sync
		// (SyncDeclarations) when they choose to.
		var t ddm.TokensResponse
		if data, isData := cmd.Fields["Data"].([]byte); !isData || json.Unmarshal(data, &t) != nil {
			return profileError("Data is not JSON SyncTokens as <data>")
		}
		d.SyncRequests = append(d.SyncRequests, t.SyncTokens)
		return mdmproto.StatusAcknowledged, nil, true
	case "ProfileList":
		list := []any{}
		for id := range d.profiles {
			list = append(list, map[string]any{"PayloadIdentifier": id})
		}
		return mdmproto.StatusAcknowledged, map[string]any{"ProfileList": list}, true
	}
	return "", nil, false
}

func installs(p *InstalledProfile) int {
	if p == nil {
		return 0
	}
	return p.Installs
}

// profileError refuses a profile command with the reason, as devices do.
func profileError(reason string) (string, map[string]any, bool) {
	return mdmproto.StatusError, map[string]any{"ErrorChain": []any{map[string]any{
		"ErrorCode": 1000, "ErrorDomain": "MCProfileErrorDomain", "LocalizedDescription": reason}}}, true
}

// Profiles returns the configuration profiles the device holds, by identifier.
func (d *Device) Profiles() map[string]*InstalledProfile { return d.profiles }

// RemoveProfileLocally removes a profile as a user would, behind the server's back.
func (d *Device) RemoveProfileLocally(identifier string) { delete(d.profiles, identifier) }
