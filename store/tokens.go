package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"
)

// APIToken is the record of an issued API token; the JWT itself is never stored.
type APIToken struct {
	JTI         string
	Name        string
	Permissions []string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	RevokedAt   *time.Time
	// CreatedBy is the id of the token that created this one over the API
	// (nil for the CLI's): revoking it revokes this one.
	CreatedBy *string
}

// InsertAPIToken records a newly issued token.
func (q *Queries) InsertAPIToken(ctx context.Context, t APIToken) error {
	_, err := q.db.Exec(ctx, `INSERT INTO api_tokens (jti, name, permissions, expires_at, created_by)
		VALUES ($1, $2, $3, $4, $5)`, t.JTI, t.Name, t.Permissions, t.ExpiresAt, t.CreatedBy)
	if err != nil {
		return fmt.Errorf("record api token: %w", err)
	}
	return nil
}

// RevokeAPITokens revokes tokens by jti, or every token with that name,
// with the tokens they created and theirs, and returns the ids of those it
// revoked.
func (q *Queries) RevokeAPITokens(ctx context.Context, jti, name string) ([]string, error) {
	// UNION (not UNION ALL) visits each token once, whatever the links.
	rows, err := q.db.Query(ctx, `WITH RECURSIVE named AS (
			SELECT jti FROM api_tokens WHERE jti = $1 OR name = $2
			UNION SELECT t.jti FROM api_tokens t JOIN named n ON t.created_by = n.jti)
		UPDATE api_tokens SET revoked_at = now()
		WHERE revoked_at IS NULL AND jti IN (SELECT jti FROM named) RETURNING jti`, jti, name)
	if err != nil {
		return nil, fmt.Errorf("revoke api tokens: %w", err)
	}
	jtis, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("revoke api tokens: %w", err)
	}
	return jtis, nil
}

// APITokenUsable reports whether a token was issued here and is not revoked.
func (q *Queries) APITokenUsable(ctx context.Context, jti string) (bool, error) {
	var ok bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE jti = $1 AND revoked_at IS NULL)`, jti).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check api token: %w", err)
	}
	return ok, nil
}

// ServerKey returns the key orchard keeps for a purpose, generating it with
// newKey on first use. Concurrent first uses agree on one key.
func (q *Queries) ServerKey(ctx context.Context, purpose string, newKey func() ([]byte, error)) ([]byte, error) {
	at := seal.Place{Table: "server_keys", Column: "key_sealed", RowID: purpose}
	var sealed string
	err := q.db.QueryRow(ctx, "SELECT key_sealed FROM server_keys WHERE purpose = $1", purpose).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		key, err := newKey()
		if err != nil {
			return nil, fmt.Errorf("server key %s: %w", purpose, err)
		}
		fresh, err := q.sealer.Seal(key, at)
		if err != nil {
			return nil, err
		}
		// ON CONFLICT: another process won the race; everyone uses its key.
		err = q.db.QueryRow(ctx, `INSERT INTO server_keys (purpose, key_sealed) VALUES ($1, $2)
			ON CONFLICT (purpose) DO UPDATE SET purpose = EXCLUDED.purpose RETURNING key_sealed`, purpose, fresh).Scan(&sealed)
		if err != nil {
			return nil, fmt.Errorf("server key %s: %w", purpose, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("server key %s: %w", purpose, err)
	}
	key, err := q.sealer.Open(sealed, at)
	if err != nil {
		return nil, fmt.Errorf("server key %s (is ORCHARD_SECRET_KEY the key this database was sealed with?): %w", purpose, err)
	}
	return key, nil
}

// DeleteStaleAPITokens deletes token records that expired or were revoked
// before cutoff; their tokens can never be used again.
func (q *Queries) DeleteStaleAPITokens(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM api_tokens WHERE expires_at < $1 OR revoked_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("delete stale api tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}
