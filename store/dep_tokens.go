package store

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store/seal"
)

// DEPToken is a DEP server token: orchard's key pair and, once uploaded,
// Apple's OAuth1 keys. Secrets are never in this struct.
type DEPToken struct {
	ID                int64
	Name              string
	Certificate       []byte // DER
	ConsumerKey       string
	AccessTokenExpiry *time.Time
	UploadedAt        *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

const depTokenColumns = `id, name, certificate, consumer_key, access_token_expiry, uploaded_at, created_at, updated_at`

func scanDEPToken(row pgx.Row) (DEPToken, error) {
	var t DEPToken
	err := row.Scan(&t.ID, &t.Name, &t.Certificate, &t.ConsumerKey, &t.AccessTokenExpiry, &t.UploadedAt, &t.CreatedAt, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

func depTokenPlace(id int64, column string) seal.Place {
	return seal.Place{Table: "dep_tokens", Column: column, RowID: strconv.FormatInt(id, 10)}
}

// InsertDEPToken stores a new server token's certificate and its key, sealed.
func (q *Queries) InsertDEPToken(ctx context.Context, name string, cert []byte, key *rsa.PrivateKey) (DEPToken, error) {
	var t DEPToken
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		// The sealed key is bound to the row id, known only after the insert.
		t, err = scanDEPToken(tx.QueryRow(ctx, `INSERT INTO dep_tokens (name, certificate, private_key_sealed)
			VALUES ($1, $2, '') RETURNING `+depTokenColumns, name, cert))
		if err != nil {
			return fmt.Errorf("create dep token: %w", err)
		}
		sealed, err := q.sealer.Seal(x509.MarshalPKCS1PrivateKey(key), depTokenPlace(t.ID, "private_key_sealed"))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE dep_tokens SET private_key_sealed = $2 WHERE id = $1", t.ID, sealed); err != nil {
			return fmt.Errorf("create dep token: %w", err)
		}
		return nil
	})
	return t, err
}

// DEPToken returns one token.
func (q *Queries) DEPToken(ctx context.Context, id int64) (DEPToken, error) {
	t, err := scanDEPToken(q.db.QueryRow(ctx, "SELECT "+depTokenColumns+" FROM dep_tokens WHERE id = $1", id))
	if err != nil {
		return t, fmt.Errorf("dep token %d: %w", id, err)
	}
	return t, nil
}

// ListDEPTokens returns every token in id order (a handful per organisation).
func (q *Queries) ListDEPTokens(ctx context.Context) ([]DEPToken, error) {
	rows, err := q.db.Query(ctx, "SELECT "+depTokenColumns+" FROM dep_tokens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list dep tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DEPToken, error) { return scanDEPToken(r) })
}

// DEPTokensByIDs loads tokens for a dataloader: results in the order of ids.
func (q *Queries) DEPTokensByIDs(ctx context.Context, ids []int64) ([]*DEPToken, error) {
	return loadByKeys(ctx, q.db, "dep tokens", "SELECT "+depTokenColumns+" FROM dep_tokens WHERE id = ANY($1)",
		ids, scanDEPToken, func(t *DEPToken) int64 { return t.ID })
}

// DEPTokenKey opens a token's key pair, to decrypt what Apple encrypted to it.
func (q *Queries) DEPTokenKey(ctx context.Context, id int64) (*x509.Certificate, *rsa.PrivateKey, error) {
	var der []byte
	var sealed string
	err := q.db.QueryRow(ctx, "SELECT certificate, private_key_sealed FROM dep_tokens WHERE id = $1", id).Scan(&der, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("dep token %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dep token %d: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("dep token %d certificate: %w", id, err)
	}
	raw, err := q.sealer.Open(sealed, depTokenPlace(id, "private_key_sealed"))
	if err != nil {
		return nil, nil, fmt.Errorf("dep token %d key: %w", id, err)
	}
	key, err := x509.ParsePKCS1PrivateKey(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("dep token %d key: %w", id, err)
	}
	return cert, key, nil
}

// ErrDEPTokenNotUploaded: the token's key pair exists, Apple's server token
// for it was not uploaded yet.
var ErrDEPTokenNotUploaded = errors.New("has not been uploaded yet")

// DEPCredentials opens the OAuth1 keys of an uploaded token.
func (q *Queries) DEPCredentials(ctx context.Context, id int64) (dep.Credentials, error) {
	var c dep.Credentials
	var cs, as *string
	err := q.db.QueryRow(ctx, `SELECT consumer_key, consumer_secret_sealed, access_token, access_secret_sealed
		FROM dep_tokens WHERE id = $1`, id).Scan(&c.ConsumerKey, &cs, &c.AccessToken, &as)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("dep token %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("dep token %d: %w", id, err)
	}
	if cs == nil || as == nil {
		return c, fmt.Errorf("dep token %d: %w", id, ErrDEPTokenNotUploaded)
	}
	secret, err := q.sealer.Open(*cs, depTokenPlace(id, "consumer_secret_sealed"))
	if err != nil {
		return c, fmt.Errorf("dep token %d: %w", id, err)
	}
	access, err := q.sealer.Open(*as, depTokenPlace(id, "access_secret_sealed"))
	if err != nil {
		return c, fmt.Errorf("dep token %d: %w", id, err)
	}
	c.ConsumerSecret, c.AccessSecret = string(secret), string(access)
	return c, nil
}

// SaveDEPUpload stores an uploaded token's keys (sealed) and the virtual server
// Apple's /account named, in one transaction. A renewal keeps the key pair and
// must name the same virtual server.
func (q *Queries) SaveDEPUpload(ctx context.Context, id int64, tok *dep.Token, acct *dep.Account) (DEPVirtualServer, error) {
	cs, err := q.sealer.Seal([]byte(tok.ConsumerSecret), depTokenPlace(id, "consumer_secret_sealed"))
	if err != nil {
		return DEPVirtualServer{}, err
	}
	as, err := q.sealer.Seal([]byte(tok.AccessSecret), depTokenPlace(id, "access_secret_sealed"))
	if err != nil {
		return DEPVirtualServer{}, err
	}
	var vs DEPVirtualServer
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE dep_tokens SET consumer_key = $2, consumer_secret_sealed = $3, access_token = $4,
			access_secret_sealed = $5, access_token_expiry = $6, session_sealed = NULL, uploaded_at = now(), updated_at = now()
			WHERE id = $1`, id, tok.ConsumerKey, cs, tok.AccessToken, as, tok.AccessTokenExpiry)
		if err != nil {
			return fmt.Errorf("store dep token: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("dep token %d: %w", id, ErrNotFound)
		}
		vs, err = upsertDEPVirtualServer(ctx, tx, id, acct)
		return err
	})
	return vs, err
}

// DEPSessions is the store of the one DEP session all processes share for a
// token. Sessions outlive any transaction: they always use the pool.
func (s *Store) DEPSessions(tokenID int64) dep.SessionStore { return depSessions{s: s, id: tokenID} }

type depSessions struct {
	s  *Store
	id int64
}

func (d depSessions) GetSession(ctx context.Context) (string, error) {
	var sealed *string
	err := d.s.pool.QueryRow(ctx, "SELECT session_sealed FROM dep_tokens WHERE id = $1", d.id).Scan(&sealed)
	if err != nil || sealed == nil {
		return "", err
	}
	plain, err := d.s.sealer.Open(*sealed, depTokenPlace(d.id, "session_sealed"))
	if err != nil {
		return "", nil // a session sealed with a retired key: get a new one
	}
	return string(plain), nil
}

func (d depSessions) PutSession(ctx context.Context, token string) error {
	sealed, err := d.s.sealer.Seal([]byte(token), depTokenPlace(d.id, "session_sealed"))
	if err != nil {
		return err
	}
	_, err = d.s.pool.Exec(ctx, "UPDATE dep_tokens SET session_sealed = $2, session_updated_at = now() WHERE id = $1", d.id, sealed)
	return err
}
