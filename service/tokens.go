package service

import (
	"context"

	"github.com/orchardmdm/orchard/store"
)

// RecordAPIToken records a token just issued (graph/auth signs it).
func (s *Service) RecordAPIToken(ctx context.Context, actor string, t store.APIToken) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		if err := q.InsertAPIToken(ctx, t); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "api_token.create", objectType: "api_token", objectID: t.JTI,
			data: map[string]any{"name": t.Name, "permissions": t.Permissions, "expires_at": t.ExpiresAt}})
	})
}

// RevokeAPITokens revokes a token by id, or every token of a name, at once
// in every process, and returns how many it revoked.
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
