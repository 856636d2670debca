package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/store"
)

// ReceiveAppsBooksNotification applies one of Apple's notifications to the
// location of library uid, once: the bearer must be the secret registered
// for it (appsbooks.ErrUnauthorized otherwise, nothing changed), and a
// notification id seen before is ignored. It changes the rows a sync would.
func (s *Service) ReceiveAppsBooksNotification(ctx context.Context, uid, bearer string, n appsbooks.Notification) error {
	id, hash, err := s.store.LocationNotificationHash(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return appsbooks.ErrUnknownLocation
	} else if err != nil {
		return err
	}
	got := sha256.Sum256([]byte(bearer))
	if subtle.ConstantTimeCompare(got[:], hash) != 1 {
		return appsbooks.ErrUnauthorized
	}
	if n.UID != "" && n.UID != uid {
		// Signed for this location, about another: refuse rather than guess.
		return appsbooks.ErrUnauthorized
	}
	return s.store.Tx(ctx, func(q *store.Queries) error {
		fresh, err := q.RecordLocationNotification(ctx, id, n)
		if err != nil || !fresh {
			return err
		}
		changed, err := applyNotification(ctx, q, id, n)
		if err != nil {
			return err
		}
		return s.audit(ctx, q, "apple:appsbooks", event{action: "location.notification", objectType: "location",
			objectID: idString(id), data: map[string]any{"notification_id": n.NotificationID,
				"notification_type": n.NotificationType, "changed": changed}})
	})
}

// applyNotification changes counts and assignments; types orchard does not
// act on (users, tests) are recorded and otherwise ignored.
func applyNotification(ctx context.Context, q *store.Queries, locationID int64, n appsbooks.Notification) (int, error) {
	switch n.NotificationType {
	case appsbooks.NotifyAssetCount:
		var c appsbooks.AssetCountNotification
		if err := json.Unmarshal(n.Notification, &c); err != nil {
			return 0, nil // unreadable: recorded, so Apple's retries stop
		}
		ok, err := q.AddLocationAssetCount(ctx, locationID, c)
		if ok {
			return 1, err
		}
		return 0, err
	case appsbooks.NotifyAssetManagement:
		var m appsbooks.AssetManagementNotification
		if err := json.Unmarshal(n.Notification, &m); err != nil {
			return 0, nil
		}
		if associate, ok := m.Change(); ok {
			return q.ApplyLocationAssignments(ctx, locationID, associate, m.Assignments)
		}
	}
	return 0, nil
}
