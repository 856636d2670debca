package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/store"
)

// AppsBooksConfig is how the service reaches Apple's Apps and Books service.
type AppsBooksConfig struct {
	// BaseURL of the service; empty means Apple's.
	BaseURL    string
	HTTPClient *http.Client
	// Backoff overrides the client's wait between retries (tests).
	Backoff func(n int) time.Duration
}

// NotificationPath is where Apple posts a location's notifications; the
// last segment is the location's library uid.
const NotificationPath = "/appsbooks/notifications/"

// notificationTypes are the notifications orchard asks Apple for.
var notificationTypes = []string{appsbooks.NotifyAssetCount, appsbooks.NotifyAssetManagement}

func (s *Service) appsBooksClient(stoken string) *appsbooks.Client {
	c := appsbooks.New(appsbooks.Config{BaseURL: s.appsBooks.BaseURL, HTTPClient: s.appsBooks.HTTPClient, SToken: stoken})
	if s.appsBooks.Backoff != nil {
		c.Backoff = s.appsBooks.Backoff
	}
	return c
}

// LocationClient returns a location and a client for its token.
func (s *Service) LocationClient(ctx context.Context, id int64) (store.Location, *appsbooks.Client, error) {
	l, err := s.store.Location(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return l, nil, notFound("no location with id %d", id)
	} else if err != nil {
		return l, nil, err
	}
	if !l.ServerTokenExpirationDate.After(time.Now()) {
		return l, nil, invalid("location %q: its content token has expired: upload a new one", l.Name)
	}
	tok, err := s.store.LocationToken(ctx, id)
	if err != nil {
		return l, nil, err
	}
	return l, s.appsBooksClient(tok), nil
}

// UploadLocationToken checks a content token with Apple's client/config,
// registers orchard's notification URL with a new bearer secret, and stores
// the location (or, with renewID, renews that location: it must be the same
// library). A refused token changes nothing.
func (s *Service) UploadLocationToken(ctx context.Context, actor string, renewID *int64, file []byte) (store.Location, error) {
	var l store.Location
	tok, err := appsbooks.ParseContentToken(file)
	if err == nil {
		err = tok.CheckExpiry(time.Now())
	}
	if err != nil {
		return l, invalid("content token refused: %s", err)
	}
	client := s.appsBooksClient(tok.SToken)
	cfg, err := client.ClientConfig(ctx)
	if err != nil {
		return l, appsBooksRefusal("content token refused: Apple did not accept it", err)
	}
	mdmInfoID, err := s.checkLocationTarget(ctx, renewID, cfg.UID)
	if err != nil {
		return l, err
	}
	secret, err := newNotificationSecret()
	if err != nil {
		return l, err
	}
	cfg, err = client.SetClientConfig(ctx, appsbooks.ClientConfigRequest{MdmInfo: &appsbooks.MdmInfo{ID: mdmInfoID, Name: "orchard"},
		NotificationURL: s.notificationURL(cfg.UID), NotificationAuthToken: secret, NotificationTypes: notificationTypes})
	if err != nil {
		return l, appsBooksRefusal("Apple refused orchard's registration", err)
	}
	hash := sha256.Sum256([]byte(secret))
	in := store.LocationInput{LibraryUID: cfg.UID, Name: cfg.LocationName, OrganizationName: tok.OrgName,
		CountryCode: cfg.CountryISO2ACode, Platform: cfg.DefaultPlatform, WebsiteURL: cfg.WebsiteURL, MdmInfoID: mdmInfoID,
		ServerTokenExpirationDate: expiryOf(cfg, tok), SToken: tok.SToken, NotificationSecretSHA256: hash[:]}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		if l, err = q.SaveLocation(ctx, in); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "location.upload_token", objectType: "location", objectID: idString(l.ID),
			data: map[string]any{"library_uid": l.LibraryUID, "name": l.Name, "organization_name": l.OrganizationName,
				"renewal": renewID != nil, "server_token_expiration_date": l.ServerTokenExpirationDate}})
	})
	return l, err
}

// checkLocationTarget refuses a new token for a library orchard already
// has, and a renewal for another library; it returns the mdmInfo id to
// register (a renewal keeps its own).
func (s *Service) checkLocationTarget(ctx context.Context, renewID *int64, uid string) (string, error) {
	if uid == "" {
		return "", invalid("content token refused: Apple's client/config names no location (uId)")
	}
	existing, err := s.store.LocationByUID(ctx, uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	found := err == nil
	switch {
	case renewID == nil && found:
		return "", invalid("this location is already location %d: renew its token there", existing.ID)
	case renewID == nil:
		return mdmproto.NewUUID(), nil
	case !found:
		if _, err := s.store.Location(ctx, *renewID); errors.Is(err, store.ErrNotFound) {
			return "", notFound("no location with id %d", *renewID)
		}
		return "", invalid("this token is for another location (library %s) than location %d", uid, *renewID)
	case existing.ID != *renewID:
		return "", invalid("this token is for location %d, not %d", existing.ID, *renewID)
	}
	return existing.MdmInfoID, nil
}

func (s *Service) notificationURL(uid string) string {
	return strings.TrimRight(s.publicURL, "/") + NotificationPath + url.PathEscape(uid)
}

func newNotificationSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// expiryOf prefers Apple's word on the token's expiry over the file's.
func expiryOf(cfg *appsbooks.ClientConfig, tok appsbooks.ContentToken) time.Time {
	if !cfg.TokenExpirationDate.IsZero() {
		return cfg.TokenExpirationDate.Time
	}
	return tok.ExpDate
}

// appsBooksRefusal shows Apple's refusals to the caller; anything else stays.
func appsBooksRefusal(prefix string, err error) error {
	var apiErr *appsbooks.Error
	if errors.As(err, &apiErr) {
		return &Error{Kind: Invalid, Msg: fmt.Sprintf("%s: %s", prefix, apiErr.Error()), Err: err}
	}
	return err
}

// DeleteLocation deletes a location and its assets from orchard.
func (s *Service) DeleteLocation(ctx context.Context, actor string, id int64) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		l, err := q.Location(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no location with id %d", id)
		} else if err != nil {
			return err
		}
		if err := q.DeleteLocation(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "location.delete", objectType: "location", objectID: idString(id),
			data: map[string]any{"library_uid": l.LibraryUID, "name": l.Name}})
	})
}

// SyncLocation queues a sync of a location's assets; asking while one waits
// returns that one.
func (s *Service) SyncLocation(ctx context.Context, actor string, id int64) (*rivertype.JobRow, error) {
	var job *rivertype.JobRow
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		if _, err := q.Location(ctx, id); errors.Is(err, store.ErrNotFound) {
			return notFound("no location with id %d", id)
		} else if err != nil {
			return err
		}
		res, err := s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.LocationSync{LocationID: id}, nil)
		if err != nil {
			return err
		}
		job = res.Job
		return s.audit(ctx, q, actor, event{action: "location.sync", objectType: "location", objectID: idString(id),
			data: map[string]any{"job_id": res.Job.ID}})
	})
	return job, err
}
