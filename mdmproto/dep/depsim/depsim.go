// Package depsim simulates Apple's DEP service for tests and for people
// without Apple access: OAuth1-signed sessions that expire, fetch and sync
// cursors that expire, page limits, profiles whose assignment updates the
// devices' profile_status, op_type/op_date on sync, and injected failures.
package depsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

// Config shapes a simulator.
type Config struct {
	// Devices is how many generated devices the server starts with.
	Devices int
	// Credentials the simulator accepts; empty fields are generated.
	Credentials dep.Credentials
	// SessionTTL is how long a session token lives (Apple: a few minutes).
	SessionTTL time.Duration
	// CursorTTL is how long a cursor stays usable (Apple: 7 days).
	CursorTTL time.Duration
	// DefaultLimit and MaxLimit are the page sizes of fetch and sync.
	DefaultLimit, MaxLimit int
	// FailEvery makes every FailEvery-th call answer FailStatus (429 by
	// default, with Retry-After: 1), to try clients' retries; 0: never.
	FailEvery  int
	FailStatus int
	// Now is the clock; tests move it. Defaults to time.Now.
	Now func() time.Time
}

// Server is the simulated service; it is an http.Handler.
type Server struct {
	cfg   Config
	creds dep.Credentials
	mux   *http.ServeMux

	mu       sync.Mutex
	sessions map[string]time.Time
	devices  []*record
	bySerial map[string]*record
	changes  []change
	profiles map[string]dep.Profile
	// cursorEpoch: cursors of an older epoch are expired.
	cursorEpoch   int
	failures      []failure
	termsUnsigned bool
	requests      map[string]int
	calls         int
}

type record struct {
	dep.Device
	deleted bool
}

type change struct {
	serial string
	op     string
	at     time.Time
}

type failure struct {
	status     int
	retryAfter string
	code       string
}

// New returns a simulator seeded with cfg.Devices devices.
func New(cfg Config) *Server {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 3 * time.Minute
	}
	if cfg.CursorTTL == 0 {
		cfg.CursorTTL = 7 * 24 * time.Hour
	}
	if cfg.DefaultLimit == 0 {
		cfg.DefaultLimit = 100
	}
	if cfg.MaxLimit == 0 {
		cfg.MaxLimit = dep.MaxPage
	}
	if cfg.FailStatus == 0 {
		cfg.FailStatus = http.StatusTooManyRequests
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, creds: cfg.Credentials, sessions: map[string]time.Time{},
		bySerial: map[string]*record{}, profiles: map[string]dep.Profile{}, requests: map[string]int{}}
	fill := func(p *string, prefix string) {
		if *p == "" {
			*p = prefix + randomHex(16)
		}
	}
	fill(&s.creds.ConsumerKey, "CK_")
	fill(&s.creds.ConsumerSecret, "CS_")
	fill(&s.creds.AccessToken, "AT_")
	fill(&s.creds.AccessSecret, "AS_")
	s.AddDevices(cfg.Devices)
	s.changes = nil // the seed is the starting state, not changes
	s.routes()
	return s
}

// Credentials are the OAuth1 keys the simulator accepts.
func (s *Server) Credentials() dep.Credentials { return s.creds }

// TokenJSON is an stoken.json for the simulator, valid for a year.
func (s *Server) TokenJSON() []byte {
	return fmt.Appendf(nil, `{"consumer_key":%q,"consumer_secret":%q,"access_token":%q,"access_secret":%q,"access_token_expiry":%q}`,
		s.creds.ConsumerKey, s.creds.ConsumerSecret, s.creds.AccessToken, s.creds.AccessSecret,
		s.cfg.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
