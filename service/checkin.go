package service

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/scep"
	"github.com/orchardmdm/orchard/store"
)

// What devices cause, for the device-facing endpoint (it declares the
// interface these methods satisfy). Refusals are mdmproto's errors, wrapped:
// the endpoint maps them to status codes. No remote call is made here: a
// check-in is answered from the database alone.

// Authenticate starts a new enrollment of a device channel, or binds the
// renewed identity of an enrolled one. A new identity let through by an
// administrator's allowance, and a renewal, are recorded in the audit trail,
// in the same transaction.
func (s *Service) Authenticate(ctx context.Context, ch mdmproto.Channel, facts mdmproto.DeviceFacts) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		id, why, err := q.Authenticate(ctx, ch, facts)
		if err != nil {
			return err
		}
		// A new enrollment gets a first inventory at its TokenUpdate; a
		// renewed identity goes on with its enrollment.
		if why != store.BindRenewal {
			if err := q.ForgetInventoryRequest(ctx, ch.DeviceID()); err != nil {
				return err
			}
		}
		ev := event{objectType: "enrolled_device", objectID: idString(id), data: map[string]any{"udid": ch.DeviceID()}}
		switch why {
		case store.BindAllowed:
			ev.action, ev.data["allowed_by"] = "device.reenroll", "administrator"
		case store.BindRenewal:
			ev.action, ev.data["not_after"] = "device.identity_renewed", ch.CertNotAfter
		default:
			return nil
		}
		return s.audit(ctx, q, deviceActor(ch), ev)
	})
}

func deviceActor(ch mdmproto.Channel) string { return "device:" + ch.DeviceID() }

// TokenUpdate records a device's push channel and makes it usable; the
// first after an enrollment sets the device up (setUpDeviceInTx).
func (s *Service) TokenUpdate(ctx context.Context, ch mdmproto.Channel, t mdmproto.TokenUpdateInfo) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		if err := q.TokenUpdate(ctx, ch, t); err != nil {
			return err
		}
		if _, user := ch.UserChannel(); user {
			return nil
		}
		return s.setUpDeviceInTx(ctx, q, ch, t.AwaitingConfiguration)
	})
}

// CheckOut records that a device left management.
func (s *Service) CheckOut(ctx context.Context, ch mdmproto.Channel) error {
	return s.store.CheckOut(ctx, ch)
}

// SetBootstrapToken escrows a Mac's bootstrap token, sealed.
func (s *Service) SetBootstrapToken(ctx context.Context, ch mdmproto.Channel, token []byte) error {
	return s.store.SetBootstrapToken(ctx, ch, token)
}

// BootstrapToken gives a Mac back its escrowed bootstrap token (nil: none).
func (s *Service) BootstrapToken(ctx context.Context, ch mdmproto.Channel) ([]byte, error) {
	return s.store.BootstrapToken(ctx, ch)
}

// TouchDevice checks a device channel's identity and marks it seen.
func (s *Service) TouchDevice(ctx context.Context, ch mdmproto.Channel) error {
	return s.store.TouchDevice(ctx, ch)
}

// TouchUser checks a user channel's identity and marks it seen.
func (s *Service) TouchUser(ctx context.Context, ch mdmproto.Channel) error {
	return s.store.TouchUser(ctx, ch)
}

// Idle gives a device its next command (empty: none) in one statement, and
// publishes the command's Sent event once it committed.
func (s *Service) Idle(ctx context.Context, ch mdmproto.Channel) (mdmproto.NextCommand, error) {
	next, err := s.store.Idle(ctx, ch)
	if err == nil && next.UUID != "" {
		s.publishCommitted(ctx, sentEvent(next))
	}
	return next, err
}

// EnrollmentBySecret names the enrollment a profile URL's secret opens.
func (s *Service) EnrollmentBySecret(ctx context.Context, secret string) (int64, string, error) {
	e, err := s.store.EnrollmentBySecret(ctx, secret)
	if errors.Is(err, store.ErrNotFound) {
		return 0, "", mdmproto.ErrUnknownEnrollment
	}
	return e.ID, e.Name, err
}

// NewSCEPChallenge makes a single-use challenge for one profile download.
func (s *Service) NewSCEPChallenge(ctx context.Context, enrollmentID int64, ttl time.Duration) (string, error) {
	return s.store.NewSCEPChallenge(ctx, enrollmentID, ttl)
}

// ConsumeSCEPChallenge spends a challenge on the identity issue makes,
// binding the certificate to the challenge's enrollment.
func (s *Service) ConsumeSCEPChallenge(ctx context.Context, challenge string, issue func() (*x509.Certificate, error)) error {
	err := s.store.ConsumeSCEPChallenge(ctx, challenge, issue)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrEnrollmentClosed) {
		return fmt.Errorf("%w: %w", scep.ErrBadChallenge, err)
	}
	return err
}
