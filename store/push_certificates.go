package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"
)

// ErrTopicChanged refuses a renewal that would change a push certificate's
// topic: every enrolled device is bound to the topic it enrolled with.
var ErrTopicChanged = errors.New("the push topic would change")

// PushCertificate is an APNs push certificate; its private key stays sealed.
type PushCertificate struct {
	ID             int64
	Name           string
	Topic          string
	Certificate    string
	NotBefore      time.Time
	NotAfter       time.Time
	ExpiryWarning  *string
	ExpiryWarnedAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// PushCertificateInput is a checked certificate and key to store.
type PushCertificateInput struct {
	Name      string
	Topic     string
	CertPEM   []byte
	KeyDER    []byte
	NotBefore time.Time
	NotAfter  time.Time
}

const pushCertColumns = `id, name, topic, certificate, not_before, not_after, expiry_warning,
	expiry_warned_at, created_at, updated_at`

func scanPushCertificate(row pgx.Row) (PushCertificate, error) {
	var c PushCertificate
	err := row.Scan(&c.ID, &c.Name, &c.Topic, &c.Certificate, &c.NotBefore, &c.NotAfter,
		&c.ExpiryWarning, &c.ExpiryWarnedAt, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// The key is sealed for its topic, which never changes, so the sealed value
// can be written before the row has an id.
func pushKeyPlace(topic string) seal.Place {
	return seal.Place{Table: "push_certificates", Column: "private_key_sealed", RowID: topic}
}

// ListPushCertificates returns every push certificate, oldest first.
func (q *Queries) ListPushCertificates(ctx context.Context) ([]PushCertificate, error) {
	rows, err := q.db.Query(ctx, "SELECT "+pushCertColumns+" FROM push_certificates ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list push certificates: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PushCertificate, error) { return scanPushCertificate(r) })
	if err != nil {
		return nil, fmt.Errorf("list push certificates: %w", err)
	}
	return list, nil
}

// PushCertificate returns one push certificate.
func (q *Queries) PushCertificate(ctx context.Context, id int64) (PushCertificate, error) {
	c, err := scanPushCertificate(q.db.QueryRow(ctx, "SELECT "+pushCertColumns+" FROM push_certificates WHERE id = $1", id))
	if err != nil {
		return c, fmt.Errorf("push certificate %d: %w", id, err)
	}
	return c, nil
}

// PushTopic is the topic enrollment profiles carry: the first push
// certificate'q. It is "" (and no error) while there is none.
func (q *Queries) PushTopic(ctx context.Context) (string, error) {
	var topic string
	err := q.db.QueryRow(ctx, "SELECT topic FROM push_certificates ORDER BY id LIMIT 1").Scan(&topic)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("push topic: %w", err)
	}
	return topic, nil
}

// CreatePushCertificate stores a new push certificate; ErrConflict when its
// topic is already stored (renew that one instead).
func (q *Queries) CreatePushCertificate(ctx context.Context, in PushCertificateInput) (PushCertificate, error) {
	sealed, err := q.sealer.Seal(in.KeyDER, pushKeyPlace(in.Topic))
	if err != nil {
		return PushCertificate{}, err
	}
	c, err := scanPushCertificate(q.db.QueryRow(ctx, `INSERT INTO push_certificates
		(name, topic, certificate, private_key_sealed, not_before, not_after) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (topic) DO NOTHING RETURNING `+pushCertColumns,
		in.Name, in.Topic, string(in.CertPEM), sealed, in.NotBefore, in.NotAfter))
	if errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("push certificate for topic %s: %w", in.Topic, ErrConflict)
	}
	if err != nil {
		return c, fmt.Errorf("create push certificate: %w", err)
	}
	return c, nil
}

// RenewPushCertificate replaces a push certificate's certificate and key,
// keeping its topic (ErrTopicChanged otherwise), and clears its expiry warning.
func (q *Queries) RenewPushCertificate(ctx context.Context, id int64, in PushCertificateInput) (PushCertificate, error) {
	sealed, err := q.sealer.Seal(in.KeyDER, pushKeyPlace(in.Topic))
	if err != nil {
		return PushCertificate{}, err
	}
	var c PushCertificate
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		var topic string
		err := tx.QueryRow(ctx, "SELECT topic FROM push_certificates WHERE id = $1 FOR UPDATE", id).Scan(&topic)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("push certificate %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("renew push certificate: %w", err)
		}
		if topic != in.Topic {
			return fmt.Errorf("%w: stored %s, new %s", ErrTopicChanged, topic, in.Topic)
		}
		c, err = scanPushCertificate(tx.QueryRow(ctx, `UPDATE push_certificates SET
			name = COALESCE(NULLIF($2, ''), name), certificate = $3, private_key_sealed = $4, not_before = $5,
			not_after = $6, expiry_warning = NULL, expiry_warned_at = NULL, updated_at = now()
			WHERE id = $1 RETURNING `+pushCertColumns, id, in.Name, string(in.CertPEM), sealed, in.NotBefore, in.NotAfter))
		if err != nil {
			return fmt.Errorf("renew push certificate: %w", err)
		}
		return nil
	})
	return c, err
}

// PushCredential is what pushing for a topic takes: the certificate and its opened key.
type PushCredential struct {
	Topic   string
	CertPEM []byte
	KeyDER  []byte
}

// PushCredentials returns the certificate and opened key of each topic that
// has a push certificate.
func (q *Queries) PushCredentials(ctx context.Context, topics []string) (map[string]PushCredential, error) {
	rows, err := q.db.Query(ctx, "SELECT topic, certificate, private_key_sealed FROM push_certificates WHERE topic = ANY($1)", topics)
	if err != nil {
		return nil, fmt.Errorf("push credentials: %w", err)
	}
	defer rows.Close()
	out := map[string]PushCredential{}
	for rows.Next() {
		var topic, cert, sealed string
		if err := rows.Scan(&topic, &cert, &sealed); err != nil {
			return nil, fmt.Errorf("push credentials: %w", err)
		}
		key, err := q.sealer.Open(sealed, pushKeyPlace(topic))
		if err != nil {
			return nil, fmt.Errorf("open push key of %s: %w", topic, err)
		}
		out[topic] = PushCredential{Topic: topic, CertPEM: []byte(cert), KeyDER: key}
	}
	return out, rows.Err()
}

// ExpiringPushCertificates returns the push certificates that expire before cutoff.
func (q *Queries) ExpiringPushCertificates(ctx context.Context, cutoff time.Time) ([]PushCertificate, error) {
	rows, err := q.db.Query(ctx, "SELECT "+pushCertColumns+" FROM push_certificates WHERE not_after < $1 ORDER BY id", cutoff)
	if err != nil {
		return nil, fmt.Errorf("expiring push certificates: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PushCertificate, error) { return scanPushCertificate(r) })
	if err != nil {
		return nil, fmt.Errorf("expiring push certificates: %w", err)
	}
	return list, nil
}

// WarnPushCertificate records an expiry warning where GraphQL shows it.
func (q *Queries) WarnPushCertificate(ctx context.Context, id int64, warning string) error {
	_, err := q.db.Exec(ctx, `UPDATE push_certificates SET expiry_warning = $2, expiry_warned_at = now()
		WHERE id = $1`, id, warning)
	if err != nil {
		return fmt.Errorf("warn push certificate %d: %w", id, err)
	}
	return nil
}
