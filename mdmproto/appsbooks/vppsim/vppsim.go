// Package vppsim is a local stand-in for Apple's Apps and Books for
// Organizations service with its real shapes: bearer content tokens,
// client/config registration, paged assets and assignments whose versionId
// moves on every change, asynchronous associate/disassociate events polled
// through status, rate limits with Retry-After, and notifications posted
// to the registered URL with the registered bearer token.
package vppsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

// Limits are the simulator's service/config limits (Apple's values).
var Limits = appsbooks.Limits{MaxAssets: 25, MaxSerialNumbers: 1000, MaxClientUserIDs: 1000}

// Server simulates the service. Its exported fields are set before use.
type Server struct {
	// PageSize is how many records a page holds (Apple: several hundred).
	PageSize int
	// PendingPolls is how many status polls an event stays PENDING.
	PendingPolls int
	// BeforePage, when set, runs before a page is served (outside the lock),
	// so a test can change data under a sync.
	BeforePage func(path string, pageIndex int)
	// HTTPClient posts notifications.
	HTTPClient *http.Client

	mu        sync.Mutex
	tokens    map[string]*Location
	calls     map[string]int
	throttle  int
	retryWait int
}

// New returns a simulator.
func New() *Server {
	return &Server{PageSize: 500, PendingPolls: 1, HTTPClient: &http.Client{Timeout: 10 * time.Second},
		tokens: map[string]*Location{}, calls: map[string]int{}}
}

// Calls counts the requests served by path ("/assets/associate", ...).
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// Throttle answers the next n requests 429 with Retry-After seconds.
func (s *Server) Throttle(n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryWait = n, retryAfterSeconds
}

// Handler serves the API under any prefix stripped by the caller: paths are
// /client/config, /service/config, /assets, /assignments,
// /assets/associate, /assets/disassociate and /status.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /client/config", s.authed(s.getClientConfig))
	mux.HandleFunc("POST /client/config", s.authed(s.postClientConfig))
	mux.HandleFunc("GET /service/config", s.serviceConfig)
	mux.HandleFunc("GET /assets", s.authed(s.getAssets))
	mux.HandleFunc("GET /assignments", s.authed(s.getAssignments))
	mux.HandleFunc("POST /assets/associate", s.authed(s.manage("ASSOCIATE")))
	mux.HandleFunc("POST /assets/disassociate", s.authed(s.manage("DISASSOCIATE")))
	mux.HandleFunc("GET /status", s.authed(s.getStatus))
	return mux
}

// Notify posts a notification to the location's registered URL with its
// registered bearer token, as Apple does; it returns the HTTP status.
func (s *Server) Notify(ctx context.Context, l *Location, typ string, payload any) (int, string, error) {
	s.mu.Lock()
	cfg := l.config
	s.mu.Unlock()
	if cfg.NotificationURL == "" {
		return 0, "", fmt.Errorf("vppsim: location %s registered no notification URL", l.UID)
	}
	return s.Post(ctx, cfg.NotificationURL, cfg.NotificationAuthToken, l.UID, typ, payload, "")
}

// Post sends one notification to url with bearer; id "" makes a new one.
// It returns the HTTP status and the notification id.
func (s *Server) Post(ctx context.Context, url, bearer, uid, typ string, payload any, id string) (int, string, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return 0, "", err
	}
	if id == "" {
		id = randomID()
	}
	body, _ := json.Marshal(appsbooks.Notification{NotificationID: id, NotificationType: typ, UID: uid, Notification: raw})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	res, err := s.HTTPClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	res.Body.Close()
	return res.StatusCode, id, nil
}
