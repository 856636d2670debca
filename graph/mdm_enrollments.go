package graph

import (
	"context"
	"errors"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

const enrollmentCursor = "enrollment"

func (r *Resolver) listEnrollments(ctx context.Context, first *int, after *string) (*model.EnrollmentConnection, error) {
	p, err := page(enrollmentCursor, first, after)
	if err != nil {
		return nil, err
	}
	list, more, err := r.Store.ListEnrollments(ctx, p)
	if err != nil {
		return nil, err
	}
	conn := &model.EnrollmentConnection{}
	conn.Edges, conn.PageInfo = edges(enrollmentCursor, list, more, func(n *store.Enrollment) int64 { return n.ID },
		func(cursor string, n *store.Enrollment) *model.EnrollmentEdge {
			return &model.EnrollmentEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func (r *Resolver) enrollment(ctx context.Context, id string) (*store.Enrollment, error) {
	n, err := parseID("enrollment", id)
	if err != nil {
		return nil, err
	}
	e, err := r.Store.Enrollment(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func (r *Resolver) createEnrollment(ctx context.Context, in model.CreateEnrollmentInput) (*store.Enrollment, error) {
	ne := service.EnrollmentInput{Name: in.Name, DEP: in.Dep != nil && *in.Dep, ExpiresAt: in.ExpiresAt, MaxUses: in.MaxUses}
	if in.BlueprintID != nil {
		id, err := parseID("blueprint", *in.BlueprintID)
		if err != nil {
			return nil, err
		}
		ne.BlueprintID = &id
	}
	e, err := r.Service.CreateEnrollment(ctx, auth.FromContext(ctx).Actor(), ne)
	return &e, err
}

func (r *Resolver) deleteEnrollment(ctx context.Context, id string) (string, error) {
	n, err := parseID("enrollment", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteEnrollment(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) enrollmentBlueprint(ctx context.Context, e *store.Enrollment) (*store.Blueprint, error) {
	if e.BlueprintID == nil {
		return nil, nil
	}
	return r.loadersFrom(ctx).blueprint.Load(ctx, *e.BlueprintID)
}

// enrollmentURL is known only in createEnrollment's answer: orchard keeps a
// hash of the secret.
func (r *Resolver) enrollmentURL(e *store.Enrollment) *string {
	if e.Secret == "" {
		return nil
	}
	url := mdmproto.EnrollmentURL(r.PublicURL, e.Secret)
	return &url
}

func (r *Resolver) allowDeviceReenrollment(ctx context.Context, deviceID string) (*store.Device, error) {
	n, err := parseID("device", deviceID)
	if err != nil {
		return nil, err
	}
	d, err := r.Service.AllowDeviceReenrollment(ctx, auth.FromContext(ctx).Actor(), n)
	return &d, err
}

func (r *Resolver) pushTopicPlaceholder(ctx context.Context) (bool, error) {
	if r.PushTopic == nil {
		return true, nil
	}
	topic, err := r.loadersFrom(ctx).pushTopic(ctx, r.PushTopic)
	return topic == "", err
}
