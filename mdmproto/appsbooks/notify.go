package appsbooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// MaxNotificationBody bounds a notification: an ASSET_MANAGEMENT event of
// 1,000 assignments is ~150 KB.
const MaxNotificationBody = 1 << 20

// ErrUnauthorized is a receiver's answer to a notification without the
// location's bearer token: the handler says 401 and nothing changes.
var ErrUnauthorized = errors.New("apps and books notification: not authenticated")

// ErrUnknownLocation: the URL names no location (404).
var ErrUnknownLocation = errors.New("apps and books notification: no such location")

// NotificationReceiver applies Apple's notifications to one location.
type NotificationReceiver interface {
	ReceiveAppsBooksNotification(ctx context.Context, locationID, bearer string, n Notification) error
}

// NotificationHandler is the HTTP edge Apple posts to. The location is the
// request's "id" path value; its bearer token is checked by the receiver.
func NotificationHandler(recv NotificationReceiver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxNotificationBody+1))
		if err != nil || len(body) > MaxNotificationBody {
			http.Error(w, "notification too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		var n Notification
		if err := json.Unmarshal(body, &n); err != nil || n.NotificationID == "" || n.NotificationType == "" {
			http.Error(w, "not an Apps and Books notification", http.StatusBadRequest)
			return
		}
		switch err := recv.ReceiveAppsBooksNotification(r.Context(), r.PathValue("id"), bearer, n); {
		case errors.Is(err, ErrUnauthorized):
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case errors.Is(err, ErrUnknownLocation):
			// The same answer as a wrong bearer: a caller learns nothing of which ids exist.
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "notification not applied", http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
}
