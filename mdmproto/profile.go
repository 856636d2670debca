package mdmproto

import (
	"errors"
	"fmt"
	"strings"

	"github.com/micromdm/plist"
)

// ProfileContentType is how enrollment profiles are served.
const ProfileContentType = "application/x-apple-aspen-config"

// EnrollPath is where enrollment profiles are served, followed by the
// enrollment's secret.
const EnrollPath = "/enroll/"

// EnrollmentURL is the profile URL of the enrollment with this secret.
func EnrollmentURL(publicURL, secret string) string {
	return strings.TrimRight(publicURL, "/") + EnrollPath + secret
}

// AccessRightsAll grants every MDM access right (Apple's 8191).
const AccessRightsAll = 8191

// ProfileConfig is what an enrollment profile says.
type ProfileConfig struct {
	// Identifier is the profile's PayloadIdentifier prefix (reverse DNS).
	Identifier   string
	DisplayName  string
	Organization string
	// Description is shown on the device; flag a placeholder topic here.
	Description string

	SCEPURL       string
	SCEPChallenge string
	SCEPSubject   string
	KeySize       int

	Topic       string
	ServerURL   string
	CheckInURL  string
	SignMessage bool
}

// Payload keys follow Apple's Configuration Profile Reference.
type scepContent struct {
	URL       string
	Name      string
	Subject   [][][]string
	Challenge string
	Keysize   int
	KeyType   string `plist:"Key Type"`
	KeyUsage  int    `plist:"Key Usage"`
}

type scepPayload struct {
	PayloadContent     scepContent
	PayloadIdentifier  string
	PayloadType        string
	PayloadUUID        string
	PayloadVersion     int
	PayloadDisplayName string
}

type mdmPayload struct {
	AccessRights            int
	CheckInURL              string
	CheckOutWhenRemoved     bool
	IdentityCertificateUUID string
	ServerCapabilities      []string
	ServerURL               string
	SignMessage             bool
	Topic                   string
	PayloadIdentifier       string
	PayloadType             string
	PayloadUUID             string
	PayloadVersion          int
	PayloadDisplayName      string
}

// EnrollmentProfile is a .mobileconfig with a SCEP and an MDM payload.
type EnrollmentProfile struct {
	PayloadContent           []any
	PayloadDisplayName       string
	PayloadDescription       string `plist:",omitempty"`
	PayloadOrganization      string `plist:",omitempty"`
	PayloadIdentifier        string
	PayloadType              string
	PayloadUUID              string
	PayloadVersion           int
	PayloadScope             string
	PayloadRemovalDisallowed bool
}

// BuildEnrollmentProfile returns the unsigned profile plist.
func BuildEnrollmentProfile(c ProfileConfig) ([]byte, error) {
	if c.SCEPURL == "" || c.ServerURL == "" || c.Topic == "" || c.Identifier == "" {
		return nil, errors.New("enrollment profile: SCEP URL, server URL, topic and identifier are required")
	}
	keySize := c.KeySize
	if keySize == 0 {
		keySize = 2048
	}
	scepUUID := NewUUID()
	scep := scepPayload{
		PayloadContent: scepContent{
			URL: c.SCEPURL, Name: "orchard", Subject: [][][]string{{{"CN", c.SCEPSubject}}},
			Challenge: c.SCEPChallenge, Keysize: keySize, KeyType: "RSA",
			KeyUsage: 5, // signing and encryption
		},
		PayloadIdentifier: c.Identifier + ".scep", PayloadType: "com.apple.security.scep",
		PayloadUUID: scepUUID, PayloadVersion: 1, PayloadDisplayName: "Device identity",
	}
	mdm := mdmPayload{
		AccessRights: AccessRightsAll, CheckInURL: c.CheckInURL, CheckOutWhenRemoved: true,
		IdentityCertificateUUID: scepUUID, ServerURL: c.ServerURL, SignMessage: c.SignMessage, Topic: c.Topic,
		ServerCapabilities: []string{"com.apple.mdm.per-user-connections", "com.apple.mdm.bootstraptoken"},
		PayloadIdentifier:  c.Identifier + ".mdm", PayloadType: "com.apple.mdm",
		PayloadUUID: NewUUID(), PayloadVersion: 1, PayloadDisplayName: "Device management",
	}
	p := EnrollmentProfile{
		PayloadContent: []any{scep, mdm}, PayloadDisplayName: c.DisplayName, PayloadDescription: c.Description,
		PayloadOrganization: c.Organization, PayloadIdentifier: c.Identifier, PayloadType: "Configuration",
		PayloadUUID: NewUUID(), PayloadVersion: 1, PayloadScope: "System",
	}
	out, err := plist.MarshalIndent(p, "\t")
	if err != nil {
		return nil, fmt.Errorf("enrollment profile: %w", err)
	}
	return out, nil
}

type parsedPayload struct {
	PayloadType    string
	PayloadContent *scepContent
	mdmPayload
}

// ParseEnrollmentProfile reads an (unsigned) enrollment profile plist back
// into what it says (the identifier and names are not read).
func ParseEnrollmentProfile(data []byte) (*ProfileConfig, error) {
	var p struct {
		PayloadDescription string
		PayloadContent     []parsedPayload
	}
	if err := UnmarshalPlist(data, &p); err != nil {
		return nil, fmt.Errorf("enrollment profile: %w", err)
	}
	out := &ProfileConfig{Description: p.PayloadDescription}
	for _, pl := range p.PayloadContent {
		switch pl.PayloadType {
		case "com.apple.security.scep":
			if pl.PayloadContent == nil {
				return nil, fmt.Errorf("%w: SCEP payload without content", ErrMalformed)
			}
			c := pl.PayloadContent
			out.SCEPURL, out.SCEPChallenge, out.KeySize = c.URL, c.Challenge, c.Keysize
			if len(c.Subject) > 0 && len(c.Subject[0]) > 0 && len(c.Subject[0][0]) == 2 {
				out.SCEPSubject = c.Subject[0][0][1]
			}
		case "com.apple.mdm":
			m := pl.mdmPayload
			out.Topic, out.ServerURL, out.CheckInURL, out.SignMessage = m.Topic, m.ServerURL, m.CheckInURL, m.SignMessage
		}
	}
	if out.SCEPURL == "" || out.ServerURL == "" {
		return nil, fmt.Errorf("%w: enrollment profile lacks a SCEP or MDM payload", ErrMalformed)
	}
	return out, nil
}
