package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrIdentityRevoked: the certificate was issued by an enrollment since
// deleted (or one that expired before the device authenticated). It is an
// ErrIdentityMismatch, so the endpoint answers it the same way.
var ErrIdentityRevoked = fmt.Errorf("identity certificate revoked: %w", ErrIdentityMismatch)

// identityUsable is the condition on enrolled_devices, for device udid $1
// presenting certificate hash $2, that every device request after
// Authenticate checks in the same statement as its work (one round trip):
// the certificate is the bound one and not revoked, and the device is
// enrolled, not blocked, not checked out.
const identityUsable = `udid = $1 AND identity_cert_sha256 = $2 AND blocked_at IS NULL AND authenticated_at IS NOT NULL
	AND checkout_at IS NULL
	AND NOT EXISTS (SELECT 1 FROM mdm_scep_certificates rc WHERE rc.sha256 = $2 AND rc.revoked_at IS NOT NULL)`

// ReenrollmentWindow is how long an administrator's allowance to re-enroll
// a device lasts; it is used up by the first Authenticate that needs it.
const ReenrollmentWindow = 24 * time.Hour

// certIssuer is what orchard knows of the enrollment that issued a
// certificate; known is false for certificates of an external CA.
type certIssuer struct {
	known        bool
	enrollmentID *int64
	blueprintID  *int64
	dep          bool
	// renews is the device whose identity renewal issued the certificate.
	renews *int64
}

// issuerOf finds the enrollment that issued a certificate, refusing one
// that was revoked or whose enrollment is gone or expired.
func issuerOf(ctx context.Context, tx pgx.Tx, certHash []byte) (certIssuer, error) {
	var is certIssuer
	var revoked, expired bool
	err := tx.QueryRow(ctx, `SELECT c.revoked_at IS NOT NULL, e.id, e.blueprint_id, coalesce(e.dep, false),
			coalesce(e.expires_at <= now(), false), c.renews_device_id
		FROM mdm_scep_certificates c LEFT JOIN mdm_enrollments e ON e.id = c.enrollment_id WHERE c.sha256 = $1`,
		certHash).Scan(&revoked, &is.enrollmentID, &is.blueprintID, &is.dep, &expired, &is.renews)
	if errors.Is(err, pgx.ErrNoRows) {
		return is, nil
	}
	if err != nil {
		return is, fmt.Errorf("certificate issuer: %w", err)
	}
	is.known = true
	// A renewal keeps an enrolled device enrolled: its enrollment closing
	// since does not matter, its deletion (which revokes) does.
	if revoked || is.enrollmentID == nil || (expired && is.renews == nil) {
		return is, ErrIdentityRevoked
	}
	return is, nil
}

// boundDevice is the identity a device is bound to, and what may let a new
// identity replace it.
type boundDevice struct {
	id              int64
	exists          bool
	blocked         bool
	certHash        []byte
	certNotAfter    *time.Time
	checkedOut      bool
	allowedToRebind bool
	depAssigned     bool
}

func loadBoundDevice(ctx context.Context, tx pgx.Tx, udid string) (boundDevice, error) {
	b := boundDevice{exists: true}
	err := tx.QueryRow(ctx, `SELECT id, blocked_at IS NOT NULL, identity_cert_sha256, cert_not_valid_after,
			checkout_at IS NOT NULL, coalesce(reenroll_allowed_until > now(), false),
			EXISTS (SELECT 1 FROM dep_devices d WHERE d.serial_number = enrolled_devices.serial_number AND d.deleted_at IS NULL)
		FROM enrolled_devices WHERE udid = $1 FOR UPDATE`, udid).Scan(&b.id, &b.blocked, &b.certHash, &b.certNotAfter,
		&b.checkedOut, &b.allowedToRebind, &b.depAssigned)
	if errors.Is(err, pgx.ErrNoRows) {
		return boundDevice{}, nil
	}
	if err != nil {
		return b, fmt.Errorf("bound identity: %w", err)
	}
	return b, nil
}

// Binding is why a certificate may be bound to a device (what Authenticate did).
type Binding int

const (
	// BindEnrollment: a new enrollment of the device (it is new, checked
	// out, its identity expired or is this one, or DEP vouches for it).
	BindEnrollment Binding = iota
	// BindAllowed: an administrator's one-shot allowance lets it through.
	BindAllowed
	// BindRenewal: orchard's own renewal of the device's identity; the
	// enrollment goes on (queue, users, push channel kept).
	BindRenewal
)

// mayBind says whether a certificate may be bound to a device: always to a
// new device, one that checked out or whose identity expired; else only the
// identity it has, its renewal, a new one that an administrator allowed, or
// one a DEP-assigned device got through a DEP enrollment.
func (b boundDevice) mayBind(certHash []byte, issuer certIssuer, now time.Time) (Binding, error) {
	switch {
	case b.blocked:
		return 0, ErrDeviceBlocked
	case !b.exists, b.certHash == nil, bytes.Equal(b.certHash, certHash), b.checkedOut:
		return BindEnrollment, nil
	case issuer.renews != nil && *issuer.renews == b.id:
		return BindRenewal, nil
	case b.certNotAfter == nil || !now.Before(*b.certNotAfter):
		return BindEnrollment, nil
	case b.depAssigned && issuer.dep:
		return BindEnrollment, nil
	case b.allowedToRebind:
		return BindAllowed, nil
	}
	return 0, fmt.Errorf("device is bound to another identity, valid until %s: %w",
		b.certNotAfter.UTC().Format(time.RFC3339), ErrIdentityMismatch)
}

// newBinding is what Authenticate learned while checking a new identity.
type newBinding struct {
	issuer certIssuer
	// why the certificate may be bound.
	why Binding
	// previous is the certificate bound when checked: the bind must still
	// find it, or a racing Authenticate got there first.
	previous []byte
}

// checkNewIdentity refuses, before anything changes, an Authenticate whose
// certificate may not be bound to the device it names.
func checkNewIdentity(ctx context.Context, tx pgx.Tx, ch Channel) (newBinding, error) {
	udid := ch.DeviceID()
	var nb newBinding
	var other string
	err := tx.QueryRow(ctx, "SELECT udid FROM enrolled_devices WHERE identity_cert_sha256 = $1 AND udid <> $2",
		ch.CertHash, udid).Scan(&other)
	if err == nil {
		return nb, fmt.Errorf("authenticate %s: certificate already used by another device: %w", udid, ErrIdentityMismatch)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return nb, fmt.Errorf("authenticate: %w", err)
	}
	if nb.issuer, err = issuerOf(ctx, tx, ch.CertHash); err != nil {
		return nb, fmt.Errorf("authenticate %s: %w", udid, err)
	}
	bound, err := loadBoundDevice(ctx, tx, udid)
	if err != nil {
		return nb, fmt.Errorf("authenticate %s: %w", udid, err)
	}
	nb.previous = bound.certHash
	if nb.why, err = bound.mayBind(ch.CertHash, nb.issuer, time.Now()); err != nil {
		return nb, fmt.Errorf("authenticate %s: %w", udid, err)
	}
	return nb, nil
}

// AllowReenrollment lets a device bind a new identity once, within
// ReenrollmentWindow, though its current one is still valid (a device reset
// or restored without its identity). It returns the device's UDID and the
// allowance's end.
func (q *Queries) AllowReenrollment(ctx context.Context, id int64) (udid string, until time.Time, err error) {
	err = q.db.QueryRow(ctx, `UPDATE enrolled_devices SET reenroll_allowed_until = now() + $2::interval, updated_at = now()
		WHERE id = $1 RETURNING udid, reenroll_allowed_until`, id, ReenrollmentWindow.String()).Scan(&udid, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return udid, until, fmt.Errorf("device %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return udid, until, fmt.Errorf("allow re-enrollment: %w", err)
	}
	return udid, until, nil
}

// IdentityExpiry counts the enrolled devices (authenticated, neither blocked
// nor checked out) whose identity certificate has expired, and those whose
// identity expires within the next `within`.
func (q *Queries) IdentityExpiry(ctx context.Context, within time.Duration) (expired, expiring int, err error) {
	err = q.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE cert_not_valid_after <= now()),
			count(*) FILTER (WHERE cert_not_valid_after > now() AND cert_not_valid_after <= now() + $1::interval)
		FROM enrolled_devices WHERE cert_not_valid_after <= now() + $1::interval
			AND checkout_at IS NULL AND blocked_at IS NULL AND authenticated_at IS NOT NULL`, within.String()).Scan(&expired, &expiring)
	if err != nil {
		return 0, 0, fmt.Errorf("identity expiry: %w", err)
	}
	return expired, expiring, nil
}

// RenewalDue is a device whose identity certificate expires soon, with the
// enrollment that issued it.
type RenewalDue struct {
	DeviceID, EnrollmentID int64
	EnrollmentName         string
	NotAfter               time.Time
}

// IdentitiesDueForRenewal locks up to limit enrolled devices whose identity,
// issued by an enrollment of the embedded CA, expires within `within` and
// that were not sent a renewal in the last `every`.
func (q *Queries) IdentitiesDueForRenewal(ctx context.Context, within, every time.Duration, limit int) ([]RenewalDue, error) {
	rows, err := q.db.Query(ctx, `SELECT d.id, e.id, e.name, d.cert_not_valid_after
		FROM enrolled_devices d JOIN mdm_enrollments e ON e.id = d.mdm_enrollment_id
		WHERE d.authenticated_at IS NOT NULL AND d.blocked_at IS NULL AND d.checkout_at IS NULL AND d.token_updated
			AND d.cert_not_valid_after > now() AND d.cert_not_valid_after < now() + $1::interval
			AND (d.identity_renewal_queued_at IS NULL OR d.identity_renewal_queued_at < now() - $2::interval)
		ORDER BY d.cert_not_valid_after LIMIT $3 FOR UPDATE OF d SKIP LOCKED`, within.String(), every.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("identities due for renewal: %w", err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RenewalDue, error) {
		var d RenewalDue
		return d, r.Scan(&d.DeviceID, &d.EnrollmentID, &d.EnrollmentName, &d.NotAfter)
	})
	if err != nil {
		return nil, fmt.Errorf("identities due for renewal: %w", err)
	}
	return due, nil
}

// MarkIdentityRenewalQueued records that a device was sent its renewal now.
func (q *Queries) MarkIdentityRenewalQueued(ctx context.Context, deviceID int64) error {
	_, err := q.db.Exec(ctx, "UPDATE enrolled_devices SET identity_renewal_queued_at = now() WHERE id = $1", deviceID)
	if err != nil {
		return fmt.Errorf("mark identity renewal: %w", err)
	}
	return nil
}
