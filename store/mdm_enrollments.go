package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store/seal"

	"github.com/orchardmdm/orchard/mdmproto"
)

// ErrEnrollmentClosed: the enrollment expired or issued all the identities
// it may; its profile URL answers 410 and its challenges are refused.
var ErrEnrollmentClosed = mdmproto.ErrEnrollmentClosed

// Enrollment is an over-the-air enrollment: the profile at /enroll/<Secret>.
type Enrollment struct {
	ID   int64
	Name string
	// Secret is known only to the CreateEnrollment that made it, and to
	// DEPEnrollment: orchard keeps a hash of it (and, for DEP enrollments,
	// whose URL is given to Apple again and again, a sealed copy).
	Secret      string
	BlueprintID *int64
	// DEP enrollments are where Automated Device Enrollment profiles point.
	DEP bool
	// ExpiresAt, when set, ends the enrollment: no profile, no challenge after it.
	ExpiresAt *time.Time
	// MaxUses, when set, bounds the identity certificates it issues; Uses counts them.
	MaxUses   *int
	Uses      int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Closed says whether the enrollment can no longer enroll devices.
func (e Enrollment) Closed(now time.Time) bool {
	return (e.ExpiresAt != nil && !now.Before(*e.ExpiresAt)) || (e.MaxUses != nil && e.Uses >= *e.MaxUses)
}

// NewEnrollment is what CreateEnrollment needs.
type NewEnrollment struct {
	Name        string
	BlueprintID *int64
	DEP         bool
	ExpiresAt   *time.Time
	MaxUses     *int
}

const enrollmentColumns = "id, name, blueprint_id, dep, expires_at, max_uses, uses, created_at, updated_at"

func scanEnrollment(row pgx.Row) (Enrollment, error) {
	var e Enrollment
	err := row.Scan(&e.ID, &e.Name, &e.BlueprintID, &e.DEP, &e.ExpiresAt, &e.MaxUses, &e.Uses, &e.CreatedAt, &e.UpdatedAt)
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

// secretHash is how enrollment secrets and SCEP challenges are kept: only
// compared, never shown again.
func secretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// CreateEnrollment inserts an enrollment with a fresh secret, returned in
// Secret this once.
func (q *Queries) CreateEnrollment(ctx context.Context, in NewEnrollment) (Enrollment, error) {
	var e Enrollment
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = q.createEnrollment(ctx, tx, in)
		return err
	})
	return e, err
}

// DEPEnrollment returns the DEP enrollment named after a DEP profile, with
// its secret, creating it on first use, so every DEP profile sends its
// devices to an enrollment of their own (and its blueprint).
func (q *Queries) DEPEnrollment(ctx context.Context, profileName string) (Enrollment, error) {
	var e Enrollment
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		// Two profiles saved at once with one name must not make two enrollments.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('dep-enrollment:' || $1))", profileName); err != nil {
			return fmt.Errorf("lock DEP enrollment: %w", err)
		}
		var err error
		e, err = scanEnrollment(tx.QueryRow(ctx, "SELECT "+enrollmentColumns+
			" FROM mdm_enrollments WHERE dep AND name = $1 ORDER BY id LIMIT 1", profileName))
		if errors.Is(err, ErrNotFound) {
			e, err = q.createEnrollment(ctx, tx, NewEnrollment{Name: profileName, DEP: true})
			return err
		}
		if err != nil {
			return err
		}
		e.Secret, err = q.depSecret(ctx, tx, e.ID)
		return err
	})
	return e, err
}

func enrollmentSecretPlace(id int64) seal.Place {
	return seal.Place{Table: "mdm_enrollments", Column: "secret_sealed", RowID: strconv.FormatInt(id, 10)}
}

// depSecret opens a DEP enrollment's sealed secret; one made before secrets
// were sealed is sealed now and its clear copy erased.
func (q *Queries) depSecret(ctx context.Context, tx pgx.Tx, id int64) (string, error) {
	var sealed, clear *string
	if err := tx.QueryRow(ctx, "SELECT secret_sealed, secret FROM mdm_enrollments WHERE id = $1", id).Scan(&sealed, &clear); err != nil {
		return "", fmt.Errorf("DEP enrollment secret: %w", err)
	}
	if sealed != nil {
		plain, err := q.sealer.Open(*sealed, enrollmentSecretPlace(id))
		if err != nil {
			return "", fmt.Errorf("open DEP enrollment secret %d: %w", id, err)
		}
		return string(plain), nil
	}
	if clear == nil {
		return "", fmt.Errorf("DEP enrollment %d has no secret", id)
	}
	return *clear, q.sealEnrollmentSecret(ctx, tx, id, *clear)
}

func (q *Queries) sealEnrollmentSecret(ctx context.Context, tx pgx.Tx, id int64, secret string) error {
	sealed, err := q.sealer.Seal([]byte(secret), enrollmentSecretPlace(id))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE mdm_enrollments SET secret_sealed = $2, secret = NULL WHERE id = $1", id, sealed)
	if err != nil {
		return fmt.Errorf("seal DEP enrollment secret: %w", err)
	}
	return nil
}

func (q *Queries) createEnrollment(ctx context.Context, tx pgx.Tx, in NewEnrollment) (Enrollment, error) {
	if in.Name == "" {
		return Enrollment{}, fmt.Errorf("enrollment name must not be empty")
	}
	secret := randomToken(32)
	e, err := scanEnrollment(tx.QueryRow(ctx, `INSERT INTO mdm_enrollments (name, secret_sha256, blueprint_id, dep, expires_at, max_uses)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+enrollmentColumns, in.Name, secretHash(secret), in.BlueprintID, in.DEP,
		in.ExpiresAt, in.MaxUses))
	if isForeignKeyViolation(err) {
		return e, fmt.Errorf("blueprint %d: %w", *in.BlueprintID, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("create enrollment: %w", err)
	}
	e.Secret = secret
	if e.DEP {
		if err := q.sealEnrollmentSecret(ctx, tx, e.ID, secret); err != nil {
			return e, err
		}
	}
	return e, nil
}

// Enrollment returns one enrollment (without its secret).
func (q *Queries) Enrollment(ctx context.Context, id int64) (Enrollment, error) {
	return scanEnrollment(q.db.QueryRow(ctx, "SELECT "+enrollmentColumns+" FROM mdm_enrollments WHERE id = $1", id))
}

// EnrollmentBySecret returns the enrollment a profile URL names: ErrNotFound
// for an unknown secret, ErrEnrollmentClosed for an expired or used-up one.
func (q *Queries) EnrollmentBySecret(ctx context.Context, secret string) (Enrollment, error) {
	e, err := scanEnrollment(q.db.QueryRow(ctx, "SELECT "+enrollmentColumns+
		" FROM mdm_enrollments WHERE secret_sha256 = $1", secretHash(secret)))
	if err == nil && e.Closed(time.Now()) {
		return e, fmt.Errorf("enrollment %d: %w", e.ID, ErrEnrollmentClosed)
	}
	return e, err
}

// ListEnrollments returns one page of enrollments in id order.
func (q *Queries) ListEnrollments(ctx context.Context, p Page) ([]Enrollment, bool, error) {
	rows, err := q.db.Query(ctx, "SELECT "+enrollmentColumns+" FROM mdm_enrollments WHERE id > $1 ORDER BY id LIMIT $2", p.After, p.First+1)
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
func (q *Queries) CountEnrollments(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, "SELECT count(*) FROM mdm_enrollments").Scan(&n)
	return n, err
}

// DeleteEnrollment deletes an enrollment: its profile URL and unused
// challenges stop working, and the identity certificates it issued are
// revoked, so devices enrolled through it are refused until they enroll
// again. It returns the enrollment's name and how many certificates it revoked.
func (q *Queries) DeleteEnrollment(ctx context.Context, id int64) (name string, revoked int64, err error) {
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE mdm_scep_certificates SET revoked_at = now() WHERE enrollment_id = $1 AND revoked_at IS NULL", id)
		if err != nil {
			return fmt.Errorf("revoke certificates of enrollment %d: %w", id, err)
		}
		revoked = tag.RowsAffected()
		err = tx.QueryRow(ctx, "DELETE FROM mdm_enrollments WHERE id = $1 RETURNING name", id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("enrollment %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete enrollment: %w", err)
		}
		return nil
	})
	return name, revoked, err
}
