package service

import (
	"context"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// Identity renewal: an identity certificate lives a year and a device that
// lets it expire can no longer check in. Before that, orchard sends the
// device its enrollment profile again (InstallProfile); the device gets a
// new identity through the profile's SCEP challenge, which names the device,
// and Authenticates with it: the renewal is bound and the enrollment goes on.
const (
	// RenewIdentitiesWithin is how long before expiry a renewal is sent.
	RenewIdentitiesWithin = 30 * 24 * time.Hour
	// renewalEvery spaces renewals a device did not act on.
	renewalEvery = 7 * 24 * time.Hour
	// renewalChallengeTTL leaves an offline device time to come back.
	renewalChallengeTTL = 14 * 24 * time.Hour
)

// RenewIdentities queues the renewal of up to limit identities that expire
// within `within` and returns how many it queued. It does nothing where an
// external SCEP server issues identities: orchard cannot renew those.
func (s *Service) RenewIdentities(ctx context.Context, actor string, within time.Duration, limit int) (int, error) {
	if s.profiles == nil || !s.profiles.Embedded() {
		return 0, nil
	}
	var ids []int64
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		due, err := q.IdentitiesDueForRenewal(ctx, within, renewalEvery, limit)
		if err != nil {
			return err
		}
		for _, d := range due {
			if err := s.queueRenewal(ctx, q, actor, d); err != nil {
				return err
			}
			ids = append(ids, d.DeviceID)
		}
		if len(ids) == 0 {
			return nil
		}
		return s.pushInTx(ctx, q, ids)
	})
	return len(ids), err
}

// queueRenewal queues one device's enrollment profile, with a challenge
// bound to the device, and records it.
func (s *Service) queueRenewal(ctx context.Context, q *store.Queries, actor string, d store.RenewalDue) error {
	profile, err := s.profiles.Build(ctx, d.EnrollmentID, d.EnrollmentName, func(ctx context.Context) (string, error) {
		return q.NewRenewalChallenge(ctx, d.EnrollmentID, d.DeviceID, renewalChallengeTTL)
	})
	if err != nil {
		return err
	}
	uuid, body, err := mdmproto.NewCommand("InstallProfile", map[string]any{"Payload": profile})
	if err != nil {
		return err
	}
	// InstallProfile is sealed: the profile carries a live challenge.
	if _, err := q.QueueCommand(ctx, store.QueuedCommand{DeviceID: d.DeviceID, UUID: uuid,
		RequestType: "InstallProfile", Body: body, Actor: actor}); err != nil {
		return err
	}
	if err := q.MarkIdentityRenewalQueued(ctx, d.DeviceID); err != nil {
		return err
	}
	return s.audit(ctx, q, actor, event{action: "device.identity_renewal", objectType: "enrolled_device",
		objectID: idString(d.DeviceID), data: map[string]any{"command_uuid": uuid, "not_after": d.NotAfter}})
}
