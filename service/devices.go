package service

import (
	"context"
	"errors"

	"github.com/orchardmdm/orchard/store"
)

// SetDeviceBlocked blocks or unblocks a device. A blocked device gets 401 at
// its next connection, which releases it from management, and cannot enroll
// again until it is unblocked; it is pushed so that it connects now.
func (s *Service) SetDeviceBlocked(ctx context.Context, actor string, id int64, blocked bool) (store.Device, error) {
	var d store.Device
	action := "device.unblock"
	if blocked {
		action = "device.block"
	}
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		d, err = q.SetDeviceBlocked(ctx, id, blocked)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no device with id %d", id)
		} else if err != nil {
			return err
		}
		err = s.audit(ctx, q, actor, event{action: action, objectType: "enrolled_device", objectID: idString(id),
			data: map[string]any{"udid": d.UDID, "serial_number": d.SerialNumber}})
		if err != nil || !blocked {
			return err
		}
		return s.pushInTx(ctx, q, []int64{id})
	})
	return d, err
}

// RevealDeviceSecret opens one of a device's sealed secrets and records the
// reveal in the audit trail before returning it; nil when there is none.
func (s *Service) RevealDeviceSecret(ctx context.Context, actor string, d *store.Device, column string) ([]byte, error) {
	var secret []byte
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		secret, err = q.OpenDeviceSecret(ctx, d.ID, column)
		if err != nil || secret == nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "device.reveal_secret", objectType: "enrolled_device",
			objectID: idString(d.ID), data: map[string]any{"secret": column, "udid": d.UDID}})
	})
	return secret, err
}

// DeleteDevice forgets a device that left management: blocked or checked
// out. A managed device is refused: it would go on checking in, unknown.
func (s *Service) DeleteDevice(ctx context.Context, actor string, id int64) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		d, err := q.DeviceForUpdate(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no device with id %d", id)
		} else if err != nil {
			return err
		}
		if d.BlockedAt == nil && d.CheckoutAt == nil {
			return invalid("device %d is still managed: block it (it then leaves management) before deleting it", id)
		}
		if err := q.DeleteDevice(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "device.delete", objectType: "enrolled_device", objectID: idString(id),
			data: map[string]any{"udid": d.UDID, "serial_number": d.SerialNumber}})
	})
}
