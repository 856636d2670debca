package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
)

// DEP connects orchard's DEP tokens to Apple's DEP service. One value is
// shared by the GraphQL resolvers and the workers.
type DEP struct {
	Store *store.Store
	// BaseURL of the DEP service; empty means Apple's.
	BaseURL    string
	HTTPClient *http.Client
	// EnrollmentURL is the URL DEP profiles send devices to, by profile name.
	EnrollmentURL func(ctx context.Context, profileName string) (string, error)
	// Backoff overrides the client's wait between retries (tests).
	Backoff func(n int) time.Duration
	// AssignPause is the wait between batches of default-profile assignments,
	// to stay under Apple's rate limits.
	AssignPause time.Duration
}

// DEPEnrollmentURL sends the devices of each DEP profile to a DEP enrollment
// of that name (made on first use): devices enrolling there are marked
// dep_enrollment and get challenges bound to it.
func DEPEnrollmentURL(s *store.Store, publicURL string) func(context.Context, string) (string, error) {
	return func(ctx context.Context, profileName string) (string, error) {
		e, err := s.DEPEnrollment(ctx, profileName)
		if err != nil {
			return "", err
		}
		return mdmproto.EnrollmentURL(publicURL, e.Secret), nil
	}
}

// ProfileURL is the enrollment URL a DEP profile sends devices to.
func (d *DEP) ProfileURL(ctx context.Context, profileName string) (string, error) {
	if d.EnrollmentURL == nil {
		return "", errors.New("no DEP enrollment URL is configured")
	}
	return d.EnrollmentURL(ctx, profileName)
}

// newClient builds a client for credentials, with the given session store.
func (d *DEP) newClient(creds dep.Credentials, sessions dep.SessionStore) *dep.Client {
	c := dep.New(dep.Config{BaseURL: d.BaseURL, HTTPClient: d.HTTPClient, Credentials: creds, Sessions: sessions})
	if d.Backoff != nil {
		c.Backoff = d.Backoff
	}
	return c
}

// Client returns a client for an uploaded token, sharing the token's session
// with every orchard process through the database.
func (d *DEP) Client(ctx context.Context, tokenID int64) (*dep.Client, error) {
	creds, err := d.Store.DEPCredentials(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	return d.newClient(creds, d.Store.DEPSessions(tokenID)), nil
}

// ErrTokenExpired is returned for calls with a token past its expiry: Apple
// would refuse them, and only an administrator can renew it.
var ErrTokenExpired = errors.New("the DEP token has expired: download a renewed token from Apple Business Manager and upload it")

// ServerClient returns a virtual server and a client for its token.
func (d *DEP) ServerClient(ctx context.Context, serverID int64) (store.DEPVirtualServer, *dep.Client, error) {
	vs, err := d.Store.DEPVirtualServer(ctx, serverID)
	if err != nil {
		return vs, nil, err
	}
	tok, err := d.Store.DEPToken(ctx, vs.TokenID)
	if err != nil {
		return vs, nil, err
	}
	if tok.AccessTokenExpiry != nil && tok.AccessTokenExpiry.Before(time.Now()) {
		return vs, nil, fmt.Errorf("virtual server %q: %w", vs.ServerName, ErrTokenExpired)
	}
	c, err := d.Client(ctx, vs.TokenID)
	return vs, c, err
}

// cancelUnlessTransient ends a DEP job for good when it cannot work until
// someone acts (no such server, no token uploaded, token expired); anything
// else (the database or a shutdown) is returned for River to retry.
func cancelUnlessTransient(err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDEPTokenNotUploaded) || errors.Is(err, ErrTokenExpired) {
		return river.JobCancel(err)
	}
	return err
}

// ErrBadToken wraps the reasons an uploaded token is refused; the message is
// safe to show the person who uploaded it.
var ErrBadToken = errors.New("DEP token refused")

// Upload decrypts an uploaded server token with the key of DEP token id,
// checks it with Apple's /account, then stores it with its virtual server.
// A refused token changes nothing.
func (d *DEP) Upload(ctx context.Context, id int64, file []byte, actor string) (store.DEPVirtualServer, error) {
	cert, key, err := d.Store.DEPTokenKey(ctx, id)
	if err != nil {
		return store.DEPVirtualServer{}, err
	}
	tok, err := dep.ParseTokenFile(file, cert, key)
	if err != nil {
		return store.DEPVirtualServer{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if err := tok.CheckExpiry(time.Now()); err != nil {
		return store.DEPVirtualServer{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	// A session of its own: the token is not stored until Apple accepts it.
	acct, err := d.newClient(tok.Credentials(), &dep.MemorySessions{}).Account(ctx)
	if err != nil {
		return store.DEPVirtualServer{}, fmt.Errorf("%w: Apple did not accept it: %w", ErrBadToken, err)
	}
	return d.Store.SaveDEPUpload(ctx, id, tok, acct, actor)
}

// registerDEP adds the DEP workers; deps.DEP nil means Apple's service.
func registerDEP(workers *river.Workers, deps Deps) error {
	d := deps.DEP
	if d == nil {
		d = &DEP{Store: deps.Store}
	}
	if err := river.AddWorkerSafely(workers, &DEPSyncWorker{dep: d}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &DEPSyncAllWorker{store: deps.Store}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &DEPAssignDefaultWorker{dep: d})
}

// depPeriodicJobs syncs every virtual server on the schedule, starting at
// process start so a restarted orchard catches up.
func depPeriodicJobs(s Schedule) []*river.PeriodicJob {
	if s.DEPSync <= 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(s.DEPSync),
		func() (river.JobArgs, *river.InsertOpts) { return jobargs.DEPSyncAll{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}
