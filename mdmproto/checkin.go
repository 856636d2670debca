// Package mdmproto holds Apple's MDM protocol as Go types: check-in messages,
// command reports, command builders, device identity (Mdm-Signature CMS and
// mTLS proxy headers) and enrollment profiles. It imports nothing of orchard,
// so every layer above can stand on it.
package mdmproto

import (
	"errors"
	"fmt"
)

// Check-in message types (Content-Type application/x-apple-aspen-mdm-checkin).
const (
	Authenticate          = "Authenticate"
	TokenUpdate           = "TokenUpdate"
	CheckOut              = "CheckOut"
	SetBootstrapToken     = "SetBootstrapToken"
	GetBootstrapToken     = "GetBootstrapToken"
	UserAuthenticate      = "UserAuthenticate"
	DeclarativeManagement = "DeclarativeManagement"
	GetToken              = "GetToken"
)

// CheckinContentType is what devices send check-in messages as; command
// reports come with any other type (usually application/x-apple-aspen-mdm).
const CheckinContentType = "application/x-apple-aspen-mdm-checkin"

// ErrMalformed wraps every decoding failure, so the edge answers 400.
var ErrMalformed = errors.New("malformed MDM message")

// Enrollment names the channel a message comes from. The device channel is
// UDID (or EnrollmentID for user enrollments); a user channel adds UserID
// (or UserShortName on Shared iPad).
type Enrollment struct {
	UDID          string `plist:",omitempty"`
	EnrollmentID  string `plist:",omitempty"`
	UserID        string `plist:",omitempty"`
	UserShortName string `plist:",omitempty"`
	UserLongName  string `plist:",omitempty"`
}

// DeviceID is the device channel's identifier.
func (e Enrollment) DeviceID() string {
	if e.UDID != "" {
		return e.UDID
	}
	return e.EnrollmentID
}

// UserChannel reports whether the message comes from a user channel, and its user.
func (e Enrollment) UserChannel() (string, bool) {
	if e.UserID != "" {
		return e.UserID, true
	}
	if e.UserShortName != "" {
		return e.UserShortName, true
	}
	return "", false
}

// ChannelID is the full enrollment id: UDID or UDID:UserID.
func (e Enrollment) ChannelID() string {
	if u, ok := e.UserChannel(); ok {
		return e.DeviceID() + ":" + u
	}
	return e.DeviceID()
}

// UserEnrollment reports a BYOD user enrollment (EnrollmentID, no UDID).
func (e Enrollment) UserEnrollment() bool { return e.UDID == "" && e.EnrollmentID != "" }

// CheckinMessage is any check-in message; fields not sent stay zero.
type CheckinMessage struct {
	MessageType string
	Enrollment
	Topic string `plist:",omitempty"`

	// Authenticate.
	BuildVersion string `plist:",omitempty"`
	DeviceName   string `plist:",omitempty"`
	Model        string `plist:",omitempty"`
	ModelName    string `plist:",omitempty"`
	OSVersion    string `plist:",omitempty"`
	ProductName  string `plist:",omitempty"`
	SerialNumber string `plist:",omitempty"`
	IMEI         string `plist:",omitempty"`
	MEID         string `plist:",omitempty"`

	// TokenUpdate.
	Token                 []byte `plist:",omitempty"`
	PushMagic             string `plist:",omitempty"`
	UnlockToken           []byte `plist:",omitempty"`
	AwaitingConfiguration bool   `plist:",omitempty"`

	// SetBootstrapToken.
	BootstrapToken []byte `plist:",omitempty"`

	// DeclarativeManagement.
	Endpoint string `plist:",omitempty"`
	Data     []byte `plist:",omitempty"`

	// GetToken.
	TokenServiceType string `plist:",omitempty"`
}

// DecodeCheckin decodes and checks a check-in message.
func DecodeCheckin(body []byte) (*CheckinMessage, error) {
	var m CheckinMessage
	if err := UnmarshalPlist(body, &m); err != nil {
		return nil, err
	}
	if m.MessageType == "" {
		return nil, fmt.Errorf("%w: no MessageType", ErrMalformed)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if err := m.validateFacts(); err != nil {
		return nil, err
	}
	return &m, nil
}
