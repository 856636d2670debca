package endpoint

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
)

// Devices is what the endpoint needs of orchard's rules to answer devices:
// the service layer implements it, and the endpoint sees nothing of storage.
// Refusals are mdmproto's errors (wrapped), which the endpoint maps to status
// codes.
type Devices interface {
	Authenticate(ctx context.Context, ch mdmproto.Channel, facts mdmproto.DeviceFacts) error
	TokenUpdate(ctx context.Context, ch mdmproto.Channel, t mdmproto.TokenUpdateInfo) error
	CheckOut(ctx context.Context, ch mdmproto.Channel) error
	SetBootstrapToken(ctx context.Context, ch mdmproto.Channel, token []byte) error
	BootstrapToken(ctx context.Context, ch mdmproto.Channel) ([]byte, error)
	TouchDevice(ctx context.Context, ch mdmproto.Channel) error
	TouchUser(ctx context.Context, ch mdmproto.Channel) error
	Idle(ctx context.Context, ch mdmproto.Channel) (mdmproto.NextCommand, error)
	// ReportResult stores an answer and gives the next command; accepted is
	// false for an answer to a command the device was not sent.
	ReportResult(ctx context.Context, ch mdmproto.Channel, r mdmproto.CommandResult) (next mdmproto.NextCommand, accepted bool, err error)
	// EnrollmentBySecret names the enrollment a profile URL opens, or fails
	// with mdmproto.ErrUnknownEnrollment or mdmproto.ErrEnrollmentClosed.
	EnrollmentBySecret(ctx context.Context, secret string) (id int64, name string, err error)
	NewSCEPChallenge(ctx context.Context, enrollmentID int64, ttl time.Duration) (string, error)
	// ConsumeSCEPChallenge fails with scep.ErrBadChallenge for a challenge
	// that is unknown, used, expired or of a closed enrollment.
	ConsumeSCEPChallenge(ctx context.Context, challenge string, issue func() (*x509.Certificate, error)) error
	// DeclarativeManagement answers a DeclarativeManagement check-in (JSON,
	// or nothing for a status report); it fails with ddm.ErrMalformed or
	// ddm.ErrUnknownDeclaration for what the device got wrong.
	DeclarativeManagement(ctx context.Context, ch mdmproto.Channel, endpoint string, data []byte) ([]byte, error)
	// ProfileAsset is a profile a legacy-profile declaration names, for the
	// device whose identity certificate has this hash.
	ProfileAsset(ctx context.Context, certHash []byte, profileID int64) ([]byte, error)
}

// ServerKeys keeps orchard's own keys (sealed), made on first use.
type ServerKeys interface {
	ServerKey(ctx context.Context, purpose string, newKey func() ([]byte, error)) ([]byte, error)
}
