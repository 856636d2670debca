package service

import (
	"context"
	"errors"
	"slices"

	"github.com/orchardmdm/orchard/store"
)

// RecordAPIToken records a token just issued (graph/auth signs it).
func (s *Service) RecordAPIToken(ctx context.Context, actor string, t store.APIToken) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		if err := q.InsertAPIToken(ctx, t); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "api_token.create", objectType: "api_token", objectID: t.JTI,
			data: map[string]any{"name": t.Name, "permissions": t.Permissions, "expires_at": t.ExpiresAt, "created_by": t.CreatedBy}})
	})
}

// RevokeAPITokens revokes a token by id, or every token of a name, with the
// tokens they created over the API and theirs, at once in every process,
// and returns how many it revoked.
func (s *Service) RevokeAPITokens(ctx context.Context, actor, jti, name string) (int, error) {
	if jti == "" && name == "" {
		return 0, invalid("name the token to revoke: its id or its name")
	}
	var n int
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		jtis, err := q.RevokeAPITokens(ctx, jti, name)
		if err != nil {
			return err
		}
		n = len(jtis)
		return s.audit(ctx, q, actor, event{action: "api_token.revoke", objectType: "api_token", objectID: jti,
			data: map[string]any{"name": name, "revoked": jtis}})
	})
	return n, err
}

// RevokeAPIToken revokes one token by id, with the tokens it created over
// the API and theirs, at once in every process, and returns its record. An unknown id is NOT_FOUND; a token already revoked is
// refused, so the audit trail records only revocations that happened.
func (s *Service) RevokeAPIToken(ctx context.Context, actor, jti string) (store.APIToken, error) {
	var rec store.APIToken
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		// The UPDATE decides, so two revocations racing audit only one.
		revoked, err := q.RevokeAPITokens(ctx, jti, "")
		if err != nil {
			return err
		}
		rec, err = q.GetAPIToken(ctx, jti)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("no API token with id %q", jti)
		case err != nil:
			return err
		case !slices.Contains(revoked, jti):
			return invalid("API token %q was already revoked", jti)
		}
		return s.audit(ctx, q, actor, event{action: "api_token.revoke", objectType: "api_token", objectID: jti,
			data: map[string]any{"name": rec.Name, "revoked": revoked}})
	})
	return rec, err
}
