package graph

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// maxTokenFile bounds an uploaded token: Apple's are a few kilobytes.
const maxTokenFile = 1 << 20

func depCertificatePEM(t *store.DEPToken) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.Certificate}))
}

func depDaysUntilExpiry(t *store.DEPToken) *int {
	if t.AccessTokenExpiry == nil {
		return nil
	}
	days := mdmproto.DaysUntil(*t.AccessTokenExpiry, time.Now())
	return &days
}

func depSyncPhase(v *store.DEPVirtualServer) string { return strings.ToUpper(v.CursorPhase) }

func (r *Resolver) depTokens(ctx context.Context) ([]*store.DEPToken, error) {
	list, err := r.Store.ListDEPTokens(ctx)
	return pointers(list), err
}

func (r *Resolver) depVirtualServers(ctx context.Context) ([]*store.DEPVirtualServer, error) {
	list, err := r.Store.ListDEPVirtualServers(ctx)
	return pointers(list), err
}

func (r *Resolver) depServerByID(ctx context.Context, id int64) (*store.DEPVirtualServer, error) {
	v, err := r.loadersFrom(ctx).dep.server.Load(ctx, id)
	if err == nil && v == nil {
		err = fmt.Errorf("dep virtual server %d: %w", id, store.ErrNotFound)
	}
	return v, err
}

func (r *Resolver) depTokenByID(ctx context.Context, id int64) (*store.DEPToken, error) {
	t, err := r.loadersFrom(ctx).dep.token.Load(ctx, id)
	if err == nil && t == nil {
		err = fmt.Errorf("dep token %d: %w", id, store.ErrNotFound)
	}
	return t, err
}

func (r *Resolver) depServerOfToken(ctx context.Context, t *store.DEPToken) (*store.DEPVirtualServer, error) {
	return r.loadersFrom(ctx).dep.tokenServer.Load(ctx, t.ID)
}

func (r *Resolver) createDEPToken(ctx context.Context, name string) (*store.DEPToken, error) {
	t, err := r.Service.CreateDEPToken(ctx, auth.FromContext(ctx).Actor(), name)
	return &t, err
}

func (r *Resolver) uploadDEPToken(ctx context.Context, id string, file *graphql.Upload, content *string) (*store.DEPToken, error) {
	n, err := parseID("DEP token", id)
	if err != nil {
		return nil, err
	}
	data, err := tokenFile(file, content)
	if err != nil {
		return nil, err
	}
	if _, err = r.Service.UploadDEPToken(ctx, auth.FromContext(ctx).Actor(), n, data); err != nil {
		return nil, err
	}
	t, err := r.Store.DEPToken(ctx, n)
	return &t, err
}

// tokenFile reads the one of file and content that was sent.
func tokenFile(file *graphql.Upload, content *string) ([]byte, error) {
	switch {
	case file != nil && content != nil:
		return nil, BadInput("send the token as file or as content, not both")
	case content != nil:
		if len(*content) > maxTokenFile {
			return nil, BadInput("the token is larger than 1 MB")
		}
		return []byte(*content), nil
	case file != nil:
		data, err := io.ReadAll(io.LimitReader(file.File, maxTokenFile+1))
		if err != nil {
			return nil, BadInput("could not read the uploaded file")
		}
		if len(data) > maxTokenFile {
			return nil, BadInput("the token is larger than 1 MB")
		}
		return data, nil
	}
	return nil, BadInput("send the token file as file or its text as content")
}

func (r *Resolver) syncDEPVirtualServer(ctx context.Context, id string, fullSync *bool) (*rivertype.JobRow, error) {
	n, err := parseID("DEP virtual server", id)
	if err != nil {
		return nil, err
	}
	return r.Service.SyncDEPVirtualServer(ctx, auth.FromContext(ctx).Actor(), n, fullSync != nil && *fullSync)
}

func (r *Resolver) setDEPDefaultProfile(ctx context.Context, serverID string, profileID *string) (*store.DEPVirtualServer, error) {
	sid, err := parseID("DEP virtual server", serverID)
	if err != nil {
		return nil, err
	}
	var pid *int64
	if profileID != nil {
		n, err := parseID("DEP profile", *profileID)
		if err != nil {
			return nil, err
		}
		pid = &n
	}
	v, err := r.Service.SetDEPDefaultProfile(ctx, auth.FromContext(ctx).Actor(), sid, pid)
	return &v, err
}

// depClientFor returns a client for a virtual server id given as a GraphQL ID.
func (r *Resolver) depClientFor(ctx context.Context, serverID string) (*dep.Client, error) {
	n, err := parseID("DEP virtual server", serverID)
	if err != nil {
		return nil, err
	}
	_, c, err := r.Service.DEPClient(ctx, n)
	return c, err
}

func (r *Resolver) depAccount(ctx context.Context, serverID string) (*model.DEPAccount, error) {
	c, err := r.depClientFor(ctx, serverID)
	if err != nil {
		return nil, err
	}
	a, err := c.Account(ctx)
	if err != nil {
		return nil, service.AppleRefusal(err)
	}
	return &model.DEPAccount{ServerName: a.ServerName, ServerUUID: a.ServerUUID, AdminID: a.AdminID,
		FacilitatorID: a.FacilitatorID, OrgName: a.OrgName, OrgEmail: a.OrgEmail, OrgPhone: a.OrgPhone,
		OrgAddress: a.OrgAddress, OrgType: a.OrgType, OrgVersion: a.OrgVersion, OrgID: a.OrgID}, nil
}
