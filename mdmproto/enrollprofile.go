package mdmproto

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
)

// Paths devices are given in enrollment profiles.
const (
	CheckinPath = "/mdm/checkin"
	ServerPath  = "/mdm/connect"
	SCEPPath    = "/scep"
)

// PlaceholderTopic stands in a profile until a push certificate exists:
// devices enroll, but cannot be woken until they re-enroll with the real topic.
const PlaceholderTopic = "com.apple.mgmt.orchard.placeholder-no-push-certificate"

// EnrollmentProfiles builds one orchard's signed enrollment profiles: served
// to devices that enroll, and sent to enrolled ones (InstallProfile) to renew
// their identity before it expires.
type EnrollmentProfiles struct {
	// PublicURL is where devices reach orchard.
	PublicURL string
	// MTLSProxy: devices come through a TLS proxy, so profiles ask for no
	// Mdm-Signature.
	MTLSProxy bool
	// CACert and CAKey are the embedded SCEP CA, which also signs profiles;
	// nil when an external SCEP server issues identities.
	CACert *x509.Certificate
	CAKey  crypto.PrivateKey
	// ExternalSCEPURL and ExternalSCEPChallenge are the external server's.
	ExternalSCEPURL, ExternalSCEPChallenge string
	// SigningIdentity, when set and giving an identity, signs profiles
	// instead of the embedded CA: a certificate (with its chain) from a CA
	// devices trust, so they show the profile as verified. It is asked for
	// each profile, so a reloaded identity is used at once.
	SigningIdentity func() *tls.Certificate
	// PushTopic is the push certificate's topic, "" (or a nil func) while
	// there is none.
	PushTopic func(ctx context.Context) (string, error)
}

// Embedded reports whether orchard's own CA issues identities.
func (p *EnrollmentProfiles) Embedded() bool { return p.CACert != nil }

// Build makes the profile of enrollment id (named name). newChallenge gives
// the single-use SCEP challenge of the embedded CA (unused with an external
// one); the profile is signed by the signing identity, or the embedded CA.
func (p *EnrollmentProfiles) Build(ctx context.Context, id int64, name string, newChallenge func(ctx context.Context) (string, error)) ([]byte, error) {
	topic, placeholder, err := p.topic(ctx)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(p.PublicURL, "/")
	cfg := ProfileConfig{
		Identifier: "com.orchardmdm.enrollment." + strconv.FormatInt(id, 10), DisplayName: "orchard: " + name,
		Organization: "orchard", Description: "Enrolls this device in orchard device management.",
		SCEPSubject: "orchard device identity", KeySize: 2048, Topic: topic,
		ServerURL: base + ServerPath, CheckInURL: base + CheckinPath, SignMessage: !p.MTLSProxy,
	}
	if placeholder {
		cfg.Description = "WARNING: orchard has no push certificate yet; this profile carries a placeholder topic. " +
			"The device enrolls but cannot be woken for commands until it re-enrolls once a push certificate is set."
	}
	if p.Embedded() {
		cfg.SCEPURL = base + SCEPPath
		if cfg.SCEPChallenge, err = newChallenge(ctx); err != nil {
			return nil, err
		}
	} else {
		cfg.SCEPURL, cfg.SCEPChallenge = p.ExternalSCEPURL, p.ExternalSCEPChallenge
	}
	data, err := BuildEnrollmentProfile(cfg)
	if err != nil {
		return nil, err
	}
	return p.sign(data)
}

// sign signs a profile with the configured identity, or else with the
// embedded CA; with neither (an external SCEP CA and no identity), the
// profile goes unsigned.
func (p *EnrollmentProfiles) sign(data []byte) ([]byte, error) {
	if p.SigningIdentity != nil {
		if id := p.SigningIdentity(); id != nil {
			return SignAttachedWith(data, id)
		}
	}
	if !p.Embedded() {
		return data, nil
	}
	return SignAttached(data, p.CACert, p.CAKey)
}

// topic is the topic profiles carry, and whether it is the placeholder.
func (p *EnrollmentProfiles) topic(ctx context.Context) (string, bool, error) {
	if p.PushTopic == nil {
		return PlaceholderTopic, true, nil
	}
	t, err := p.PushTopic(ctx)
	if err != nil {
		return "", false, fmt.Errorf("push topic: %w", err)
	}
	if t == "" {
		return PlaceholderTopic, true, nil
	}
	return t, false, nil
}
