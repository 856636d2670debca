package service

import (
	"context"
	"strconv"

	"github.com/orchardmdm/orchard/store"
)

// event is one audit record, written in the transaction of its change so a
// change is never made without its record, nor recorded without being made.
type event struct {
	action     string
	objectType string
	objectID   string
	data       map[string]any
}

func (s *Service) audit(ctx context.Context, q *store.Queries, actor string, ev event) error {
	return q.InsertAuditEvent(ctx, store.AuditEvent{Actor: actor, Action: ev.action,
		ObjectType: ev.objectType, ObjectID: ev.objectID, Data: ev.data})
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }
