package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Enrollment is an over-the-air enrollment: the profile at /enroll/<Secret>.
type Enrollment struct {
	ID          int64
	Name        string
	Secret      string
	BlueprintID *int64
	// DEP enrollments are where Automated Device Enrollment profiles point.
	DEP       bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewEnrollment is what CreateEnrollment needs; Actor names who asked, for
// the audit trail (empty: "system").
type NewEnrollment struct {
	Name        string
	BlueprintID *int64
	DEP         bool
	Actor       string
}

const enrollmentColumns = "id, name, secret, blueprint_id, dep, created_at, updated_at"

func scanEnrollment(row pgx.Row) (Enrollment, error) {
	var e Enrollment
	err := row.Scan(&e.ID, &e.Name, &e.Secret, &e.BlueprintID, &e.DEP, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// randomToken returns n random bytes as URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateEnrollment inserts an enrollment with a fresh secret.
func (s *Store) CreateEnrollment(ctx context.Context, in NewEnrollment) (Enrollment, error) {
	var e Enrollment
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = createEnrollment(ctx, tx, in)
		return err
	})
	return e, err
}

// DEPEnrollment returns the DEP enrollment named after a DEP profile,
// creating it on first use, so every DEP profile sends its devices to an
// enrollment of their own (and its blueprint).
func (s *Store) DEPEnrollment(ctx context.Context, profileName string) (Enrollment, error) {
	var e Enrollment
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		// Two profiles saved at once with one name must not make two enrollments.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('dep-enrollment:' || $1))", profileName); err != nil {
			return fmt.Errorf("lock DEP enrollment: %w", err)
		}
		var err error
		e, err = scanEnrollment(tx.QueryRow(ctx, "SELECT "+enrollmentColumns+
			" FROM mdm_enrollments WHERE dep AND name = $1 ORDER BY id LIMIT 1", profileName))
		if errors.Is(err, ErrNotFound) {
			e, err = createEnrollment(ctx, tx, NewEnrollment{Name: profileName, DEP: true})
		}
		return err
	})
	return e, err
}

func createEnrollment(ctx context.Context, tx pgx.Tx, in NewEnrollment) (Enrollment, error) {
	if in.Name == "" {
		return Enrollment{}, fmt.Errorf("enrollment name must not be empty")
	}
	actor := in.Actor
	if actor == "" {
		actor = "system"
	}
	e, err := scanEnrollment(tx.QueryRow(ctx, `INSERT INTO mdm_enrollments (name, secret, blueprint_id, dep)
		VALUES ($1, $2, $3, $4) RETURNING `+enrollmentColumns, in.Name, randomToken(32), in.BlueprintID, in.DEP))
	if isForeignKeyViolation(err) {
		return e, fmt.Errorf("blueprint %d: %w", *in.BlueprintID, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("create enrollment: %w", err)
	}
	return e, WriteAudit(ctx, tx, AuditEvent{Actor: actor, Action: "enrollment.create", ObjectType: "mdm_enrollment",
		ObjectID: strconv.FormatInt(e.ID, 10), Data: map[string]any{"name": e.Name, "blueprint_id": e.BlueprintID, "dep": e.DEP}})
}

// Enrollment returns one enrollment.
func (s *Store) Enrollment(ctx context.Context, id int64) (Enrollment, error) {
	return scanEnrollment(s.pool.QueryRow(ctx, "SELECT "+enrollmentColumns+" FROM mdm_enrollments WHERE id = $1", id))
}

// EnrollmentBySecret returns the enrollment a profile URL names.
func (s *Store) EnrollmentBySecret(ctx context.Context, secret string) (Enrollment, error) {
	return scanEnrollment(s.pool.QueryRow(ctx, "SELECT "+enrollmentColumns+" FROM mdm_enrollments WHERE secret = $1", secret))
}

// ListEnrollments returns one page of enrollments in id order.
func (s *Store) ListEnrollments(ctx context.Context, p Page) ([]Enrollment, bool, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+enrollmentColumns+" FROM mdm_enrollments WHERE id > $1 ORDER BY id LIMIT $2", p.After, p.First+1)
	if err != nil {
		return nil, false, fmt.Errorf("list enrollments: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Enrollment, error) { return scanEnrollment(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list enrollments: %w", err)
	}
	return trimPage(list, p)
}

// CountEnrollments counts all enrollments.
func (s *Store) CountEnrollments(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM mdm_enrollments").Scan(&n)
	return n, err
}

// DeleteEnrollment deletes an enrollment: its profile URL and unused
// challenges stop working; enrolled devices stay enrolled.
func (s *Store) DeleteEnrollment(ctx context.Context, id int64, actor string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, "DELETE FROM mdm_enrollments WHERE id = $1 RETURNING name", id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("enrollment %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete enrollment: %w", err)
		}
		return WriteAudit(ctx, tx, AuditEvent{Actor: actor, Action: "enrollment.delete", ObjectType: "mdm_enrollment",
			ObjectID: strconv.FormatInt(id, 10), Data: map[string]any{"name": name}})
	})
}

// DeleteStaleSCEPChallenges removes challenges that expired before cutoff
// (used ones are deleted when used); the daily clean-up job calls it.
func (s *Store) DeleteStaleSCEPChallenges(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM mdm_scep_challenges WHERE expires_at < $1", cutoff)
	if err != nil {
		return 0, fmt.Errorf("delete stale scep challenges: %w", err)
	}
	return tag.RowsAffected(), nil
}

// NewSCEPChallenge makes a single-use challenge for one profile download.
func (s *Store) NewSCEPChallenge(ctx context.Context, enrollmentID int64, ttl time.Duration) (string, error) {
	challenge := randomToken(24)
	_, err := s.pool.Exec(ctx, `INSERT INTO mdm_scep_challenges (challenge, enrollment_id, expires_at)
		VALUES ($1, $2, now() + $3::interval)`, challenge, enrollmentID, ttl.String())
	if isForeignKeyViolation(err) {
		return "", fmt.Errorf("enrollment %d: %w", enrollmentID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("new scep challenge: %w", err)
	}
	return challenge, nil
}

// ConsumeSCEPChallenge uses up a challenge and records the certificate issue
// returns, in one transaction. A wrong, used or expired challenge is
// ErrNotFound and issues nothing.
func (s *Store) ConsumeSCEPChallenge(ctx context.Context, challenge string, issue func() (*x509.Certificate, error)) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		var enrollmentID int64
		err := tx.QueryRow(ctx, `UPDATE mdm_scep_challenges SET used_at = now()
			WHERE challenge = $1 AND used_at IS NULL AND expires_at > now() RETURNING enrollment_id`, challenge).Scan(&enrollmentID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("scep challenge: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("scep challenge: %w", err)
		}
		cert, err := issue()
		if err != nil {
			return err
		}
		sum := sha256.Sum256(cert.Raw)
		_, err = tx.Exec(ctx, `INSERT INTO mdm_scep_certificates (serial, sha256, subject, enrollment_id, not_before, not_after)
			VALUES ($1, $2, $3, $4, $5, $6)`, cert.SerialNumber.String(), sum[:], cert.Subject.String(), enrollmentID,
			cert.NotBefore, cert.NotAfter)
		if err != nil {
			return fmt.Errorf("record scep certificate: %w", err)
		}
		return nil
	})
}

// CountSCEPCertificates counts the identity certificates issued.
func (s *Store) CountSCEPCertificates(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM mdm_scep_certificates").Scan(&n)
	return n, err
}
