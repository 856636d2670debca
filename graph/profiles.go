package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

const profileCursor = "profile"

func (r *Resolver) profiles(ctx context.Context, first *int, after *string) (*model.ProfileConnection, error) {
	p, err := page(profileCursor, first, after)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListProfiles(ctx, p)
	if err != nil {
		return nil, err
	}
	conn := &model.ProfileConnection{}
	conn.Edges, conn.PageInfo = edges(profileCursor, list, more, func(n *store.Profile) int64 { return n.ID },
		func(cursor string, n *store.Profile) *model.ProfileEdge {
			return &model.ProfileEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func (r *Resolver) profile(ctx context.Context, id string) (*store.Profile, error) {
	n, err := parseID("profile", id)
	if err != nil {
		return nil, err
	}
	p, err := r.Store.Profile(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return &p, err
}

func (r *Resolver) blueprintProfiles(ctx context.Context, blueprintID string) ([]*store.Profile, error) {
	n, err := parseID("blueprint", blueprintID)
	if err != nil {
		return nil, err
	}
	list, err := r.Store.BlueprintProfiles(ctx, n)
	return pointers(list), err
}

func (r *Resolver) uploadProfile(ctx context.Context, file *graphql.Upload, content *string) (*store.Profile, error) {
	data, err := profileFile(file, content)
	if err != nil {
		return nil, err
	}
	p, err := r.Service.UploadProfile(ctx, auth.FromContext(ctx).Actor(), data)
	return &p, err
}

func (r *Resolver) updateProfile(ctx context.Context, id string, file *graphql.Upload, content *string) (*store.Profile, error) {
	n, err := parseID("profile", id)
	if err != nil {
		return nil, err
	}
	data, err := profileFile(file, content)
	if err != nil {
		return nil, err
	}
	p, err := r.Service.UpdateProfile(ctx, auth.FromContext(ctx).Actor(), n, data)
	return &p, err
}

func (r *Resolver) deleteProfile(ctx context.Context, id string) (string, error) {
	n, err := parseID("profile", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteProfile(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) setBlueprintProfiles(ctx context.Context, blueprintID string, profileIDs []string) ([]*store.Profile, error) {
	bp, err := parseID("blueprint", blueprintID)
	if err != nil {
		return nil, err
	}
	if len(profileIDs) > 1000 {
		return nil, BadInput("too many profile ids")
	}
	ids := make([]int64, len(profileIDs))
	for i, s := range profileIDs {
		if ids[i], err = parseID("profile", s); err != nil {
			return nil, err
		}
	}
	list, err := r.Service.SetBlueprintProfiles(ctx, auth.FromContext(ctx).Actor(), bp, ids)
	return pointers(list), err
}

// profileFile reads the one of file and content that was sent, bounded.
func profileFile(file *graphql.Upload, content *string) ([]byte, error) {
	const limit = mdmproto.MaxConfigProfileSize
	switch {
	case file != nil && content != nil:
		return nil, BadInput("send the profile as file or as content, not both")
	case content != nil:
		if len(*content) > limit {
			return nil, BadInput("the profile is larger than %d bytes", limit)
		}
		// A signed profile is binary (CMS): as text it comes base64-encoded.
		if der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*content)); err == nil {
			return der, nil
		}
		return []byte(*content), nil
	case file != nil:
		data, err := io.ReadAll(io.LimitReader(file.File, limit+1))
		if err != nil {
			return nil, BadInput("could not read the uploaded file")
		}
		if len(data) > limit {
			return nil, BadInput("the profile is larger than %d bytes", limit)
		}
		return data, nil
	}
	return nil, BadInput("send the .mobileconfig as file or its text as content")
}

// declarationStatus is batched like softwareUpdateStatus.
func (r *Resolver) declarationStatus(ctx context.Context, d *store.Device) ([]*store.DeclarationStatus, error) {
	list, err := r.loadersFrom(ctx).declarationStatus.Load(ctx, d.ID)
	return pointers(list), err
}

// softwareUpdateStatus is batched: a page of devices asking for it costs
// one statement.
func (r *Resolver) softwareUpdateStatus(ctx context.Context, d *store.Device) (*store.SoftwareUpdateStatus, error) {
	return r.loadersFrom(ctx).softwareUpdateStatus.Load(ctx, d.ID)
}
