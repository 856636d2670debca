package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchardmdm/orchard/mdmproto"
)

// Refusals of device requests are the protocol's (the MDM endpoint maps
// them to status codes); the store returns them wrapped.
var (
	ErrDeviceBlocked    = mdmproto.ErrDeviceBlocked
	ErrIdentityMismatch = mdmproto.ErrIdentityMismatch
	ErrNotEnrolled      = mdmproto.ErrNotEnrolled
	ErrNoTokenUpdate    = mdmproto.ErrNoTokenUpdate
)

// The check-in and command types are the protocol's.
type (
	Channel     = mdmproto.Channel
	TokenUpdate = mdmproto.TokenUpdateInfo
	Result      = mdmproto.CommandResult
	NextCommand = mdmproto.NextCommand
)

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// Authenticate starts a new enrollment of a device channel: it binds the
// identity certificate, records the facts, clears the command queue and user
// channels, and leaves the device unusable until TokenUpdate. A device bound
// to another, still valid identity is refused (see mayBind) and nothing
// changes. why tells how the identity was bound: a new enrollment, an
// administrator's one-shot allowance, or the renewal of the device's identity
// (which keeps its enrollment going: queue, users and push channel).
func (q *Queries) Authenticate(ctx context.Context, ch Channel, facts mdmproto.DeviceFacts) (id int64, why Binding, err error) {
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		// The enrollment that issued the certificate gives the blueprint and
		// DEP flag; certificates of an external CA have none.
		nb, err := checkNewIdentity(ctx, tx, ch)
		if err != nil {
			return err
		}
		why = nb.why
		if nb.why == BindRenewal {
			id, err = renewIdentity(ctx, tx, ch, nb.previous)
		} else {
			id, err = bindIdentity(ctx, tx, ch, nb)
		}
		if err != nil {
			return err
		}
		if err := applyFacts(ctx, tx, id, facts); err != nil || nb.why == BindRenewal {
			return err
		}
		if err := cancelPendingCommands(ctx, tx, id); err != nil {
			return fmt.Errorf("authenticate: %w", err)
		}
		_, err = tx.Exec(ctx, "DELETE FROM mdm_device_users WHERE device_id = $1", id)
		return err
	})
	return id, why, err
}

// bindIdentity starts a new enrollment of the device with the channel's
// identity: unusable until TokenUpdate.
func bindIdentity(ctx context.Context, tx pgx.Tx, ch Channel, nb newBinding) (int64, error) {
	udid := ch.DeviceID()
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO enrolled_devices (udid, user_enrollment, identity_cert_sha256, cert_not_valid_after,
				mdm_enrollment_id, blueprint_id, dep_enrollment, authenticated_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())
			ON CONFLICT (udid) DO UPDATE SET user_enrollment = EXCLUDED.user_enrollment,
				identity_cert_sha256 = EXCLUDED.identity_cert_sha256, cert_not_valid_after = EXCLUDED.cert_not_valid_after,
				mdm_enrollment_id = COALESCE(EXCLUDED.mdm_enrollment_id, enrolled_devices.mdm_enrollment_id),
				blueprint_id = COALESCE(EXCLUDED.blueprint_id, enrolled_devices.blueprint_id),
				dep_enrollment = EXCLUDED.dep_enrollment, authenticated_at = now(), last_seen_at = now(),
				token_updated = false, checkout_at = NULL, push_token = NULL, push_magic = '', push_topic = '',
				push_token_invalid_at = NULL, unlock_token_sealed = NULL, bootstrap_token_sealed = NULL,
				bootstrap_token_escrowed = false, reenroll_allowed_until = NULL, updated_at = now()
			WHERE enrolled_devices.identity_cert_sha256 IS NOT DISTINCT FROM $8
			RETURNING id`, udid, ch.UserEnrollment(), ch.CertHash, ch.CertNotAfter, nb.issuer.enrollmentID, nb.issuer.blueprintID,
		nb.issuer.dep, nb.previous).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("authenticate %s: bound by a concurrent Authenticate: %w", udid, ErrIdentityMismatch)
	}
	if err != nil {
		return 0, fmt.Errorf("authenticate %s: %w", udid, err)
	}
	return id, nil
}

// renewIdentity binds the renewed identity and nothing else: the device stays
// enrolled as it was.
func renewIdentity(ctx context.Context, tx pgx.Tx, ch Channel, previous []byte) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `UPDATE enrolled_devices SET identity_cert_sha256 = $2, cert_not_valid_after = $3,
			identity_renewal_queued_at = NULL, last_seen_at = now(), updated_at = now()
		WHERE udid = $1 AND identity_cert_sha256 IS NOT DISTINCT FROM $4 RETURNING id`,
		ch.DeviceID(), ch.CertHash, ch.CertNotAfter, previous).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("renew identity of %s: bound by a concurrent Authenticate: %w", ch.DeviceID(), ErrIdentityMismatch)
	}
	if err != nil {
		return 0, fmt.Errorf("renew identity of %s: %w", ch.DeviceID(), err)
	}
	return id, nil
}

// deviceFor checks the channel's certificate is the one bound to its device,
// that it was not revoked, and that the device is not blocked nor checked
// out (a checked-out device must Authenticate again), locks the row and marks
// it seen: one round trip when all is well; refusals take a second to say why.
func deviceFor(ctx context.Context, tx pgx.Tx, ch Channel, needTokenUpdate bool) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `UPDATE enrolled_devices SET last_seen_at = now()
		WHERE `+identityUsable+` AND (token_updated OR NOT $3) RETURNING id`, ch.DeviceID(), ch.CertHash, needTokenUpdate).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, refusedBecause(ctx, tx, ch, needTokenUpdate)
	}
	if err != nil {
		return 0, fmt.Errorf("device %s: %w", ch.DeviceID(), err)
	}
	return id, nil
}

// refusedBecause says why deviceFor matched no device.
func refusedBecause(ctx context.Context, tx pgx.Tx, ch Channel, needTokenUpdate bool) error {
	var (
		bound                         []byte
		blocked, tu, checkedOut, revd bool
		authenticated                 *time.Time
	)
	err := tx.QueryRow(ctx, `SELECT identity_cert_sha256, blocked_at IS NOT NULL, token_updated, authenticated_at,
			checkout_at IS NOT NULL,
			EXISTS (SELECT 1 FROM mdm_scep_certificates c WHERE c.sha256 = $2 AND c.revoked_at IS NOT NULL)
		FROM enrolled_devices WHERE udid = $1`, ch.DeviceID(), ch.CertHash).Scan(&bound, &blocked, &tu, &authenticated, &checkedOut, &revd)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("device %s: %w", ch.DeviceID(), ErrNotEnrolled)
	case err != nil:
		return fmt.Errorf("device %s: %w", ch.DeviceID(), err)
	case blocked:
		return fmt.Errorf("device %s: %w", ch.DeviceID(), ErrDeviceBlocked)
	case !bytes.Equal(bound, ch.CertHash):
		return fmt.Errorf("device %s: %w", ch.DeviceID(), ErrIdentityMismatch)
	case revd:
		return fmt.Errorf("device %s: %w", ch.DeviceID(), ErrIdentityRevoked)
	case authenticated == nil, checkedOut:
		return fmt.Errorf("device %s: %w", ch.DeviceID(), ErrNotEnrolled)
	case needTokenUpdate && !tu:
		return fmt.Errorf("device %s: %w", ch.DeviceID(), ErrNoTokenUpdate)
	}
	return fmt.Errorf("device %s: refused for no known reason", ch.DeviceID())
}

// TokenUpdate records a TokenUpdate message.
func (q *Queries) TokenUpdate(ctx context.Context, ch Channel, t TokenUpdate) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, false)
		if err != nil {
			return err
		}
		if user, ok := ch.UserChannel(); ok {
			_, err := tx.Exec(ctx, `INSERT INTO mdm_device_users (device_id, user_id, short_name, long_name, push_token, push_magic, last_seen_at)
				VALUES ($1, $2, $3, $4, $5, $6, now())
				ON CONFLICT (device_id, user_id) DO UPDATE SET short_name = EXCLUDED.short_name, long_name = EXCLUDED.long_name,
					push_token = EXCLUDED.push_token, push_magic = EXCLUDED.push_magic, last_seen_at = now(), updated_at = now()`,
				id, user, ch.UserShortName, ch.UserLongName, t.Token, t.PushMagic)
			if err != nil {
				return fmt.Errorf("token update of user %s: %w", user, err)
			}
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE enrolled_devices SET push_token = $2, push_magic = $3, push_topic = $4,
			push_token_invalid_at = NULL, awaiting_configuration = $5, token_updated = true, checkout_at = NULL, updated_at = now()
			WHERE id = $1`, id, t.Token, t.PushMagic, t.Topic, t.AwaitingConfiguration)
		if err != nil {
			return fmt.Errorf("token update: %w", err)
		}
		if len(t.UnlockToken) > 0 {
			return q.SetDeviceSecret(ctx, tx, id, "unlock_token_sealed", t.UnlockToken)
		}
		return nil
	})
}

// CheckOut records that the MDM profile was removed from a device, or that
// a user channel ended.
func (q *Queries) CheckOut(ctx context.Context, ch Channel) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, false)
		if err != nil {
			return err
		}
		if user, ok := ch.UserChannel(); ok {
			_, err := tx.Exec(ctx, "DELETE FROM mdm_device_users WHERE device_id = $1 AND user_id = $2", id, user)
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE enrolled_devices SET checkout_at = now(), token_updated = false, push_token = NULL,
			push_magic = '', push_topic = '', unlock_token_sealed = NULL, bootstrap_token_sealed = NULL,
			bootstrap_token_escrowed = false, updated_at = now() WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("check out: %w", err)
		}
		return cancelPendingCommands(ctx, tx, id)
	})
}

// SetBootstrapToken escrows (sealed) or, when empty, clears the bootstrap token.
func (q *Queries) SetBootstrapToken(ctx context.Context, ch Channel, token []byte) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, false)
		if err != nil {
			return err
		}
		if len(token) == 0 {
			_, err := tx.Exec(ctx, `UPDATE enrolled_devices SET bootstrap_token_sealed = NULL, bootstrap_token_escrowed = false,
				updated_at = now() WHERE id = $1`, id)
			return err
		}
		if err := q.SetDeviceSecret(ctx, tx, id, "bootstrap_token_sealed", token); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE enrolled_devices SET bootstrap_token_escrowed = true WHERE id = $1", id)
		return err
	})
}

// BootstrapToken returns the escrowed bootstrap token (nil when none).
func (q *Queries) BootstrapToken(ctx context.Context, ch Channel) ([]byte, error) {
	var token []byte
	err := q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, false)
		if err != nil {
			return err
		}
		token, err = q.with(tx).OpenDeviceSecret(ctx, id, "bootstrap_token_sealed")
		return err
	})
	return token, err
}

// TouchDevice checks the channel's identity and marks the device seen, for
// messages that change nothing else.
func (q *Queries) TouchDevice(ctx context.Context, ch Channel) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		_, err := deviceFor(ctx, tx, ch, false)
		return err
	})
}
