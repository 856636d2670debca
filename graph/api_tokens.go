package graph

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
)

// Bounds of createAPIToken's ttlSeconds: a token shorter than a minute is a
// mistake, one longer than the CLI allows (10 years) too.
const (
	minAPITokenTTL = time.Minute
	maxAPITokenTTL = 10 * 365 * 24 * time.Hour
)

func (r *Resolver) apiTokens(ctx context.Context) ([]*store.APIToken, error) {
	list, err := r.Store.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	return pointers(list), nil
}

// createAPIToken issues a token no stronger and no longer-lived than the
// caller's own; auth.Tokens signs it and the service records it with its
// audit event.
func (r *Resolver) createAPIToken(ctx context.Context, name string, perms []string, ttlSeconds *int) (*model.CreatedAPIToken, error) {
	if r.Tokens == nil {
		return nil, errors.New("graph: this process cannot issue tokens (no auth.Tokens)")
	}
	ttl := auth.DefaultTTL
	if ttlSeconds != nil {
		ttl = time.Duration(*ttlSeconds) * time.Second
		if *ttlSeconds < 0 || ttl < minAPITokenTTL || ttl > maxAPITokenTTL {
			return nil, BadInput("ttlSeconds must be %d to %d, not %d", int(minAPITokenTTL.Seconds()), int(maxAPITokenTTL.Seconds()), *ttlSeconds)
		}
	}
	if err := auth.CheckTokenName(name); err != nil {
		return nil, BadInput("%s", err.Error())
	}
	perms = slices.Compact(slices.Sorted(slices.Values(perms)))
	if err := auth.ValidatePermissions(perms); err != nil {
		return nil, BadInput("%s", err.Error())
	}
	caller := auth.FromContext(ctx)
	if err := caller.CheckGrant(perms, time.Now().Add(ttl)); err != nil {
		return nil, Forbidden("%s", err.Error())
	}
	signed, rec, err := r.Tokens.IssueFor(ctx, caller, name, perms, ttl)
	if err != nil {
		return nil, err
	}
	return &model.CreatedAPIToken{Token: signed, APIToken: &rec}, nil
}

func (r *Resolver) revokeAPIToken(ctx context.Context, id string) (*store.APIToken, error) {
	if id == "" || len(id) > 100 {
		return nil, BadInput("id must be an API token id")
	}
	rec, err := r.Service.RevokeAPIToken(ctx, auth.FromContext(ctx).Actor(), id)
	if err != nil {
		return nil, err
	}
	return &rec, nil
}
