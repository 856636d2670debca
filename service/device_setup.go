package service

import (
	"context"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// setUpDeviceInTx queues what a newly enrolled device gets at once, in the
// TokenUpdate's transaction: its first inventory, the recovery password its
// blueprint asks for and, for a device waiting in Setup Assistant,
// DeviceConfigured last, so the device leaves Setup Assistant only after
// the setup commands before it ran (a device runs its queue in order).
// A TokenUpdate of a device already set up since it enrolled queues nothing.
func (s *Service) setUpDeviceInTx(ctx context.Context, q *store.Queries, ch mdmproto.Channel, awaiting bool) error {
	id, err := q.DeviceIDByUDID(ctx, ch.DeviceID())
	if err != nil {
		return err
	}
	due, err := q.ClaimFirstInventory(ctx, id)
	if err != nil || len(due) == 0 {
		return err
	}
	if _, err := s.queueInventoryInTx(ctx, q, due); err != nil {
		return err
	}
	if err := s.setUpRecoveryPasswordInTx(ctx, q, id); err != nil {
		return err
	}
	if err := s.setUpFileVaultEscrowInTx(ctx, q, id); err != nil {
		return err
	}
	if !awaiting {
		return nil
	}
	_, err = s.queueCommandInTx(ctx, q, BlueprintActor, id, commandAction{requestType: "DeviceConfigured",
		audit: "device.configured", build: func(*store.Device) (map[string]any, string, error) { return nil, "", nil }})
	return err
}

// setUpRecoveryPasswordInTx sets the recovery password of a Mac whose
// blueprint manages it.
func (s *Service) setUpRecoveryPasswordInTx(ctx context.Context, q *store.Queries, deviceID int64) error {
	d, err := q.Device(ctx, deviceID)
	if err != nil || d.BlueprintID == nil || d.Platform != "macOS" {
		return err
	}
	b, err := q.Blueprint(ctx, *d.BlueprintID)
	if err != nil || !b.RecoveryPassword {
		return err
	}
	_, err = s.setRecoveryPasswordInTx(ctx, q, BlueprintActor, deviceID)
	return err
}
