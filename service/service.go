// Package service is orchard's rules: every operation a person, a device or a
// job can cause is one function here, and each owns its transaction, in which
// the change, its audit event and the jobs it needs commit together or not at
// all. The GraphQL API, the device endpoint and the River workers call it; it
// is the only writer of audit events.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// Config is what the service is built from.
type Config struct {
	Store *store.Store
	// Jobs inserts River jobs in the service's transactions; an insert-only
	// client is enough (jobargs.NewInserter).
	Jobs   *jobargs.Client
	Logger *slog.Logger
	// PublicURL is where devices and people reach orchard.
	PublicURL string
	DEP       DEPConfig
	AppsBooks AppsBooksConfig
	// PushDevices queues pushes inside the transaction that gave devices
	// something to fetch (tests watch or fail it); nil asks the push
	// dispatcher for them, or queues push jobs for a fleet-sized request.
	PushDevices func(ctx context.Context, tx pgx.Tx, deviceIDs []int64) error
	// Events publishes the device path's status events in batches once its
	// statements committed; nil publishes each at once (one statement more
	// per device request).
	Events *events.Publisher
	// Profiles builds enrollment profiles, for identity renewal; nil: no renewal.
	Profiles *mdmproto.EnrollmentProfiles
	// ProfileSigner signs the configuration profiles orchard sends; nil
	// refuses to send them.
	ProfileSigner ProfileSigner
}

// DEPConfig is how the service reaches Apple's DEP service.
type DEPConfig struct {
	// BaseURL of the DEP service; empty means Apple's.
	BaseURL    string
	HTTPClient *http.Client
	// Backoff overrides the client's wait between retries (tests).
	Backoff func(n int) time.Duration
	// AssignPause is the wait between batches of default-profile
	// assignments, to stay under Apple's rate limits.
	AssignPause time.Duration
}

// Service carries out orchard's operations.
type Service struct {
	store     *store.Store
	jobs      *jobargs.Client
	log       *slog.Logger
	publicURL string
	dep       DEPConfig
	appsBooks AppsBooksConfig
	push      func(ctx context.Context, tx pgx.Tx, deviceIDs []int64) error
	events    *events.Publisher
	profiles  *mdmproto.EnrollmentProfiles

	profileSigner ProfileSigner
}

// New builds the service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{store: cfg.Store, jobs: cfg.Jobs, log: cfg.Logger, publicURL: cfg.PublicURL, dep: cfg.DEP, push: cfg.PushDevices, events: cfg.Events,
		profiles: cfg.Profiles, appsBooks: cfg.AppsBooks, profileSigner: cfg.ProfileSigner}
	if s.push == nil && s.jobs == nil {
		// No job client (a device endpoint in tests): nothing can push.
		s.push = func(context.Context, pgx.Tx, []int64) error { return nil }
	}
	return s
}

// Store is the store the service writes through, for the edges' reads.
func (s *Service) Store() *store.Store { return s.store }

// Kind says whose the fault of a refusal is.
type Kind int

// The kinds of refusal the edges map to their own codes.
const (
	// Invalid: the caller must change what it sent.
	Invalid Kind = iota + 1
	// NotFound: the object the caller named does not exist.
	NotFound
)

// Error is a refusal whose message is safe to show the caller.
type Error struct {
	Kind Kind
	Msg  string
	// Err is the cause, for errors.Is; its text is already in Msg.
	Err error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &Error{Kind: Invalid, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Kind: NotFound, Msg: fmt.Sprintf(format, args...)}
}

// IsKind reports whether err is a refusal of that kind.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
