package devicesim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/orchardmdm/orchard/mdmproto"
)

// installEnrollmentProfile does what a device does with an InstallProfile
// whose payload is its MDM enrollment profile (identity renewal): a new key
// and identity from the profile's SCEP server, then Authenticate and
// TokenUpdate with it. ok is false for other profiles, left to the caller.
func (d *Device) installEnrollmentProfile(ctx context.Context, cmd *Command) (ok bool, err error) {
	payload, _ := cmd.Fields["Payload"].([]byte)
	if len(payload) == 0 || cmd.RequestType != "InstallProfile" {
		return false, nil
	}
	if payload[0] == 0x30 {
		if payload, _, err = mdmproto.OpenSigned(payload); err != nil {
			return true, fmt.Errorf("renewal profile: %w", err)
		}
	}
	profile, err := mdmproto.ParseEnrollmentProfile(payload)
	if err != nil {
		return false, nil // not an enrollment profile
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return true, err
	}
	old := *d
	d.Profile, d.Key = profile, key
	if err := d.RequestIdentity(ctx); err != nil {
		d.Profile, d.Key = old.Profile, old.Key
		return true, fmt.Errorf("renewal identity: %w", err)
	}
	if _, err := d.Checkin(ctx, d.AuthenticateMessage()); err != nil {
		return true, fmt.Errorf("renewal authenticate: %w", err)
	}
	if _, err := d.Checkin(ctx, d.TokenUpdateMessage()); err != nil {
		return true, fmt.Errorf("renewal token update: %w", err)
	}
	return true, nil
}
