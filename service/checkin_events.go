package service

import (
	"context"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

func sentEvent(next mdmproto.NextCommand) events.Event {
	return commandStatusEvent(next.ID, next.DeviceID, next.RequestType, "Sent")
}

// reportResultInTx stores a device's answer, publishes the status changes
// (the answered command's, and Sent for the next one) and processes the
// answer, in the caller's transaction. requestType is the answered command's,
// as QuickReport read it.
func (s *Service) reportResultInTx(ctx context.Context, q *store.Queries, ch mdmproto.Channel, r mdmproto.CommandResult, requestType string) (mdmproto.NextCommand, bool, error) {
	next, answered, err := q.ReportResultOf(ctx, ch, r, requestType)
	found := answered != nil
	if err != nil {
		return next, found, err
	}
	var evs []events.Event
	if found {
		evs = append(evs, commandStatusEvent(answered.ID, answered.DeviceID, answered.RequestType, r.Status))
	}
	if next.UUID != "" {
		evs = append(evs, sentEvent(next))
	}
	if err := events.PublishAll(ctx, q.PgxTx(), evs); err != nil || !found {
		return next, found, err
	}
	return next, found, s.processResult(ctx, q, *answered, r)
}
