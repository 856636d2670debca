package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
)

// ErrDEPTokenExpired: Apple would refuse the token's calls, and only an
// administrator can renew it.
var ErrDEPTokenExpired = errors.New("the DEP token has expired: download a renewed token from Apple Business Manager and upload it")

// DEPWaitsForPerson reports whether a DEP operation cannot work until someone
// acts (no such server, no token uploaded, token expired): jobs stop
// retrying it then; anything else (the database, a shutdown) is transient.
func DEPWaitsForPerson(err error) bool {
	return errors.Is(err, store.ErrNotFound) || IsKind(err, NotFound) ||
		errors.Is(err, store.ErrDEPTokenNotUploaded) || errors.Is(err, ErrDEPTokenExpired)
}

// newDEPClient builds a client for credentials, with the given session store.
func (s *Service) newDEPClient(creds dep.Credentials, sessions dep.SessionStore) *dep.Client {
	c := dep.New(dep.Config{BaseURL: s.dep.BaseURL, HTTPClient: s.dep.HTTPClient, Credentials: creds, Sessions: sessions})
	if s.dep.Backoff != nil {
		c.Backoff = s.dep.Backoff
	}
	return c
}

// DEPClient returns a virtual server and a client for its token, which
// shares the token's Apple session with every orchard process.
func (s *Service) DEPClient(ctx context.Context, serverID int64) (store.DEPVirtualServer, *dep.Client, error) {
	vs, err := s.store.DEPVirtualServer(ctx, serverID)
	if errors.Is(err, store.ErrNotFound) {
		return vs, nil, notFound("no DEP virtual server with id %d", serverID)
	} else if err != nil {
		return vs, nil, err
	}
	tok, err := s.store.DEPToken(ctx, vs.TokenID)
	if err != nil {
		return vs, nil, err
	}
	if tok.AccessTokenExpiry != nil && tok.AccessTokenExpiry.Before(time.Now()) {
		return vs, nil, &Error{Kind: Invalid, Err: ErrDEPTokenExpired,
			Msg: fmt.Sprintf("virtual server %q: %s", vs.ServerName, ErrDEPTokenExpired)}
	}
	creds, err := s.store.DEPCredentials(ctx, vs.TokenID)
	if err != nil {
		return vs, nil, err
	}
	return vs, s.newDEPClient(creds, s.store.DEPSessions(vs.TokenID)), nil
}

// AppleRefusal shows Apple's refusals to the caller; anything else stays as it is.
func AppleRefusal(err error) error {
	var apiErr *dep.Error
	if errors.As(err, &apiErr) {
		return &Error{Kind: Invalid, Msg: "Apple refused: " + apiErr.Error(), Err: err}
	}
	return err
}

// CreateDEPToken makes the key pair a new server token is encrypted to; its
// certificate goes to Apple Business Manager.
func (s *Service) CreateDEPToken(ctx context.Context, actor, name string) (store.DEPToken, error) {
	var t store.DEPToken
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return t, invalid("a DEP token needs a name of 1 to 200 characters")
	}
	key, cert, err := dep.NewKeyPair("orchard DEP token " + name)
	if err != nil {
		return t, err
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		if t, err = q.InsertDEPToken(ctx, name, cert, key); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "dep_token.create", objectType: "dep_token",
			objectID: idString(t.ID), data: map[string]any{"name": name}})
	})
	return t, err
}

// UploadDEPToken decrypts an uploaded server token with the key of DEP
// token id, checks it with Apple's /account, then stores it with its virtual
// server. A refused token changes nothing.
func (s *Service) UploadDEPToken(ctx context.Context, actor string, id int64, file []byte) (store.DEPVirtualServer, error) {
	var vs store.DEPVirtualServer
	cert, key, err := s.store.DEPTokenKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return vs, notFound("no DEP token with id %d", id)
	} else if err != nil {
		return vs, err
	}
	tok, err := dep.ParseTokenFile(file, cert, key)
	if err == nil {
		err = tok.CheckExpiry(time.Now())
	}
	if err != nil {
		return vs, invalid("DEP token refused: %s", err)
	}
	// A session of its own: the token is not stored until Apple accepts it.
	acct, err := s.newDEPClient(tok.Credentials(), &dep.MemorySessions{}).Account(ctx)
	if err != nil {
		return vs, invalid("DEP token refused: Apple did not accept it: %s", err)
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		if vs, err = q.SaveDEPUpload(ctx, id, tok, acct); errors.Is(err, store.ErrConflict) {
			return invalid("DEP token refused: %s", err)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "dep_token.upload", objectType: "dep_token", objectID: idString(id),
			data: map[string]any{"server_uuid": acct.ServerUUID, "server_name": acct.ServerName,
				"access_token_expiry": tok.AccessTokenExpiry}})
	})
	return vs, err
}

// SyncDEPVirtualServer queues a sync of a virtual server's devices; asking
// while one waits returns that one.
func (s *Service) SyncDEPVirtualServer(ctx context.Context, actor string, id int64, fullSync bool) (*rivertype.JobRow, error) {
	var job *rivertype.JobRow
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		if _, err := q.DEPVirtualServer(ctx, id); errors.Is(err, store.ErrNotFound) {
			return notFound("no DEP virtual server with id %d", id)
		} else if err != nil {
			return err
		}
		res, err := s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.DEPSync{VirtualServerID: id, FullSync: fullSync}, nil)
		if err != nil {
			return err
		}
		job = res.Job
		return s.audit(ctx, q, actor, event{action: "dep_virtual_server.sync", objectType: "dep_virtual_server",
			objectID: idString(id), data: map[string]any{"full_sync": fullSync, "job_id": res.Job.ID}})
	})
	return job, err
}

// SetDEPDefaultProfile sets (or, with nil, clears) the profile a server's new
// devices get; the profile must be one of the server's.
func (s *Service) SetDEPDefaultProfile(ctx context.Context, actor string, serverID int64, profileID *int64) (store.DEPVirtualServer, error) {
	var v store.DEPVirtualServer
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		if v, err = q.SetDEPDefaultProfile(ctx, serverID, profileID); errors.Is(err, store.ErrNotFound) {
			return notFound("no such DEP virtual server, or the profile is not one of its profiles")
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "dep_virtual_server.set_default_profile", objectType: "dep_virtual_server",
			objectID: idString(serverID), data: map[string]any{"profile_id": profileID}})
	})
	return v, err
}

// depProfileURL is the enrollment URL a DEP profile sends devices to: a DEP
// enrollment of the profile's name (made on first use), so devices enrolling
// there are marked dep_enrollment and get challenges bound to it.
func (s *Service) depProfileURL(ctx context.Context, profileName string) (string, error) {
	e, err := s.store.DEPEnrollment(ctx, profileName)
	if err != nil {
		return "", err
	}
	return mdmproto.EnrollmentURL(s.publicURL, e.Secret), nil
}
