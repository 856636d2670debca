package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const apiTokenColumns = "jti, name, permissions, created_at, expires_at, revoked_at, created_by"

func scanAPIToken(row pgx.Row) (APIToken, error) {
	var t APIToken
	err := row.Scan(&t.JTI, &t.Name, &t.Permissions, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.CreatedBy)
	return t, err
}

// ListAPITokens returns every token record, newest first. Reading writes no
// audit: the records hold no secret (the JWTs themselves are never stored).
func (q *Queries) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := q.db.Query(ctx, "SELECT "+apiTokenColumns+" FROM api_tokens ORDER BY created_at DESC, jti")
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIToken, error) { return scanAPIToken(row) })
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return list, nil
}

// GetAPIToken returns one token record by id; ErrNotFound when there is none.
func (q *Queries) GetAPIToken(ctx context.Context, jti string) (APIToken, error) {
	t, err := scanAPIToken(q.db.QueryRow(ctx, "SELECT "+apiTokenColumns+" FROM api_tokens WHERE jti = $1", jti))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("get api token: %w", err)
	}
	return t, nil
}
