package service

import (
	"context"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// sentEvent is the Sent status event of a command handed to a device.
func sentEvent(next mdmproto.NextCommand) events.Event {
	return commandStatusEvent(next.ID, next.DeviceID, next.RequestType, "Sent")
}

// maxQueuedEvents is the most events handed to the publisher at once; more
// are one statement of their own.
const maxQueuedEvents = 100

// statusEvents are the status events of a report: the answered command's
// new status (answered nil: none was) and the next command's Sent.
func statusEvents(answered *store.CommandRef, next mdmproto.NextCommand, status string) []events.Event {
	var evs []events.Event
	if answered != nil {
		evs = append(evs, commandStatusEvent(answered.ID, answered.DeviceID, answered.RequestType, status))
	}
	if next.UUID != "" {
		evs = append(evs, sentEvent(next))
	}
	return evs
}

// publishCommitted publishes events of committed changes: through the
// batching publisher when there is one (see events.Publisher), else at
// once, as are sets too large for its queue. The change stands either way:
// a failure is logged.
func (s *Service) publishCommitted(ctx context.Context, evs ...events.Event) {
	if s.events != nil && len(evs) <= maxQueuedEvents {
		s.events.Send(evs...)
		return
	}
	if err := events.PublishAll(ctx, s.store.Pool(), evs); err != nil {
		s.log.WarnContext(ctx, "cannot publish command events", "err", err)
	}
}

// publishAfterCommit publishes events once q's transaction committed (see
// publishCommitted): a transaction that notifies itself holds PostgreSQL's
// notification lock through its commit's flush, so notifying transactions
// commit one at a time.
func (s *Service) publishAfterCommit(ctx context.Context, q *store.Queries, evs ...events.Event) {
	ctx = context.WithoutCancel(ctx)
	q.AfterCommit(func() { s.publishCommitted(ctx, evs...) })
}

// reportResultInTx stores a device's answer and processes it in the
// caller's transaction, and publishes the status changes (the answered
// command's, and Sent for the next one) once that committed. requestType is the answered command's,
// as QuickReport read it.
func (s *Service) reportResultInTx(ctx context.Context, q *store.Queries, ch mdmproto.Channel, r mdmproto.CommandResult, requestType string) (mdmproto.NextCommand, bool, error) {
	next, answered, err := q.ReportResultOf(ctx, ch, r, requestType)
	found := answered != nil
	if err != nil {
		return next, found, err
	}
	s.publishAfterCommit(ctx, q, statusEvents(answered, next, r.Status)...)
	if !found {
		return next, found, nil
	}
	return next, found, s.processResult(ctx, q, *answered, r)
}
