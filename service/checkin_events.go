package service

import (
	"context"
	"errors"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// publishSent tells subscribers the device was just given a command. It
// runs after the Idle's own statement committed, so the hot path stays one
// round trip when nothing is queued.
func (s *Service) publishSent(ctx context.Context, uuid string) {
	if uuid == "" {
		return
	}
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		return publishStatusInTx(ctx, q, uuid, "Sent")
	})
	if err != nil {
		s.log.WarnContext(ctx, "command event not published", "command_uuid", uuid, "err", err)
	}
}

func publishStatusInTx(ctx context.Context, q *store.Queries, uuid, status string) error {
	if uuid == "" {
		return nil
	}
	c, err := q.CommandRefByUUID(ctx, uuid)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return events.Publish(ctx, q.PgxTx(), commandStatusEvent(c.ID, c.DeviceID, c.RequestType, status))
}

// reportResultInTx stores a device's answer, publishes the status changes
// (the answered command's, and Sent for the next one) and processes the
// answer, in the caller's transaction.
func (s *Service) reportResultInTx(ctx context.Context, q *store.Queries, ch mdmproto.Channel, r mdmproto.CommandResult) (mdmproto.NextCommand, bool, error) {
	next, found, err := q.ReportResult(ctx, ch, r)
	if err != nil {
		return next, found, err
	}
	if err := publishStatusInTx(ctx, q, next.UUID, "Sent"); err != nil {
		return next, found, err
	}
	if !found {
		return next, found, nil
	}
	c, err := q.CommandRefByUUID(ctx, r.CommandUUID)
	if err != nil {
		return next, found, err
	}
	if err := events.Publish(ctx, q.PgxTx(), commandStatusEvent(c.ID, c.DeviceID, c.RequestType, r.Status)); err != nil {
		return next, found, err
	}
	return next, found, s.processResult(ctx, q, c, r)
}
