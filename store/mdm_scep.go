package store

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeleteStaleSCEPChallenges removes challenges that expired before cutoff
// (used ones are deleted when used); the daily clean-up job calls it.
func (q *Queries) DeleteStaleSCEPChallenges(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, "DELETE FROM mdm_scep_challenges WHERE expires_at < $1", cutoff)
	if err != nil {
		return 0, fmt.Errorf("delete stale scep challenges: %w", err)
	}
	return tag.RowsAffected(), nil
}

// NewSCEPChallenge makes a single-use challenge for one profile download;
// only its hash is kept.
func (q *Queries) NewSCEPChallenge(ctx context.Context, enrollmentID int64, ttl time.Duration) (string, error) {
	return q.newSCEPChallenge(ctx, enrollmentID, nil, ttl)
}

// NewRenewalChallenge makes the challenge of a device's identity renewal:
// it issues no new enrollment's identity (it counts no use and works after
// the enrollment closed) and marks the certificate it issues as the
// device's renewal.
func (q *Queries) NewRenewalChallenge(ctx context.Context, enrollmentID, deviceID int64, ttl time.Duration) (string, error) {
	return q.newSCEPChallenge(ctx, enrollmentID, &deviceID, ttl)
}

func (q *Queries) newSCEPChallenge(ctx context.Context, enrollmentID int64, renews *int64, ttl time.Duration) (string, error) {
	challenge := randomToken(24)
	_, err := q.db.Exec(ctx, `INSERT INTO mdm_scep_challenges (challenge_sha256, enrollment_id, renews_device_id, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval)`, secretHash(challenge), enrollmentID, renews, ttl.String())
	if isForeignKeyViolation(err) {
		return "", fmt.Errorf("enrollment %d: %w", enrollmentID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("new scep challenge: %w", err)
	}
	return challenge, nil
}

// ConsumeSCEPChallenge uses up (deletes) a challenge, counts a use of its
// enrollment and records the certificate issue returns, in one transaction.
// A wrong, used or expired challenge is ErrNotFound, one of an expired or
// used-up enrollment ErrEnrollmentClosed; both issue nothing.
func (q *Queries) ConsumeSCEPChallenge(ctx context.Context, challenge string, issue func() (*x509.Certificate, error)) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		var enrollmentID int64
		var renews *int64
		err := tx.QueryRow(ctx, `DELETE FROM mdm_scep_challenges WHERE challenge_sha256 = $1 AND expires_at > now()
			RETURNING enrollment_id, renews_device_id`, secretHash(challenge)).Scan(&enrollmentID, &renews)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("scep challenge: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("scep challenge: %w", err)
		}
		if renews == nil {
			if err := countEnrollmentUse(ctx, tx, enrollmentID); err != nil {
				return err
			}
		}
		cert, err := issue()
		if err != nil {
			return err
		}
		sum := sha256.Sum256(cert.Raw)
		_, err = tx.Exec(ctx, `INSERT INTO mdm_scep_certificates (serial, sha256, subject, enrollment_id, not_before, not_after,
			renews_device_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`, cert.SerialNumber.String(), sum[:], cert.Subject.String(),
			enrollmentID, cert.NotBefore, cert.NotAfter, renews)
		if err != nil {
			return fmt.Errorf("record scep certificate: %w", err)
		}
		return nil
	})
}

// countEnrollmentUse counts one identity issued by an enrollment, refusing
// when it expired or reached its limit (the row lock orders racing uses).
func countEnrollmentUse(ctx context.Context, tx pgx.Tx, enrollmentID int64) error {
	tag, err := tx.Exec(ctx, `UPDATE mdm_enrollments SET uses = uses + 1, updated_at = now()
		WHERE id = $1 AND (expires_at IS NULL OR expires_at > now()) AND (max_uses IS NULL OR uses < max_uses)`, enrollmentID)
	if err != nil {
		return fmt.Errorf("count use of enrollment %d: %w", enrollmentID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("enrollment %d: %w", enrollmentID, ErrEnrollmentClosed)
	}
	return nil
}

// CountSCEPCertificates counts the identity certificates issued.
func (q *Queries) CountSCEPCertificates(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, "SELECT count(*) FROM mdm_scep_certificates").Scan(&n)
	return n, err
}
