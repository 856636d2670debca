package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
)

// DeviceCommand is a command queued for a device channel.
type DeviceCommand struct {
	ID          int64
	UUID        string
	DeviceID    int64
	RequestType string
	// Status: Queued, Sent, Acknowledged, Error, CommandFormatError, NotNow, Cancelled.
	Status     string
	QueuedBy   string
	QueuedAt   time.Time
	SentAt     *time.Time
	ResultAt   *time.Time
	ErrorChain []byte // JSON
	Result     []byte // JSON of the report plist; nil when sealed
	// ResultSealed: the answer may carry a secret and is sealed; read it
	// with OpenCommandSecret(ResultColumn).
	ResultSealed bool
	// HasPIN: a Find My PIN is sealed with the command (PINColumn).
	HasPIN bool
}

const commandColumns = `id, uuid, device_id, request_type, status, queued_by, queued_at, sent_at, result_at, error_chain, result,
	result_sealed IS NOT NULL, pin_sealed IS NOT NULL`

func scanCommand(row pgx.Row) (DeviceCommand, error) {
	var c DeviceCommand
	err := row.Scan(&c.ID, &c.UUID, &c.DeviceID, &c.RequestType, &c.Status, &c.QueuedBy, &c.QueuedAt, &c.SentAt,
		&c.ResultAt, &c.ErrorChain, &c.Result, &c.ResultSealed, &c.HasPIN)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// cancelPendingCommands clears a device's queue (re-enrollment, check-out).
func cancelPendingCommands(ctx context.Context, tx pgx.Tx, deviceID int64) error {
	_, err := tx.Exec(ctx, `UPDATE mdm_device_commands SET status = 'Cancelled', result_at = now(),
		`+forgetSecretOnCancel+` WHERE device_id = $1 AND status IN ('Queued', 'Sent', 'NotNow')`, deviceID)
	if err != nil {
		return fmt.Errorf("clear command queue: %w", err)
	}
	return nil
}

// ErrCommandFinished: the command was already answered or cancelled.
var ErrCommandFinished = errors.New("command is no longer pending")

// EnqueueCommand queues a built command (mdmproto.NewCommand) that carries no
// secret inside tx, with its audit event, so callers can add the push in the
// same transaction. Commands that may carry one go through Store.QueueCommand,
// which seals them.
func (q *Queries) EnqueueCommand(ctx context.Context, deviceID int64, uuid, requestType string, body []byte, actor string) (DeviceCommand, error) {
	if mdmproto.CommandCarriesSecret(requestType) {
		return DeviceCommand{}, fmt.Errorf("%s may carry a secret: %w", requestType, ErrMustSeal)
	}
	return insertCommand(ctx, q.db, QueuedCommand{DeviceID: deviceID, UUID: uuid, RequestType: requestType, Body: body, Actor: actor}, sealedCommand{})
}

func insertCommand(ctx context.Context, db DB, q QueuedCommand, sealed sealedCommand) (DeviceCommand, error) {
	deviceID, uuid, requestType, actor := q.DeviceID, q.UUID, q.RequestType, q.Actor
	body := q.Body
	if sealed.body != nil {
		body = []byte{}
	}
	c, err := scanCommand(db.QueryRow(ctx, `INSERT INTO mdm_device_commands
		(uuid, device_id, request_type, command, command_sealed, pin_sealed, queued_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+commandColumns,
		uuid, deviceID, requestType, body, sealed.body, sealed.pin, actor))
	if isForeignKeyViolation(err) {
		return c, fmt.Errorf("device %d: %w", deviceID, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("enqueue command: %w", err)
	}
	return c, nil
}

// CancelCommand cancels, inside tx, a command the device has not been sent yet.
func (q *Queries) CancelCommand(ctx context.Context, uuid string) (DeviceCommand, error) {
	c, err := scanCommand(q.db.QueryRow(ctx, "SELECT "+commandColumns+" FROM mdm_device_commands WHERE uuid = $1 FOR UPDATE", uuid))
	if err != nil {
		return c, fmt.Errorf("command %s: %w", uuid, err)
	}
	if c.Status != "Queued" && c.Status != "NotNow" {
		return c, fmt.Errorf("command %s is %s: %w", uuid, c.Status, ErrCommandFinished)
	}
	c, err = scanCommand(q.db.QueryRow(ctx, `UPDATE mdm_device_commands SET status = 'Cancelled', result_at = now(),
		`+forgetSecretOnCancel+` WHERE id = $1 RETURNING `+commandColumns, c.ID))
	if err != nil {
		return c, fmt.Errorf("cancel command: %w", err)
	}
	return c, nil
}

// ListDeviceCommands returns one page of a device's commands, newest first.
func (q *Queries) ListDeviceCommands(ctx context.Context, deviceID int64, status string, p Page) ([]DeviceCommand, bool, error) {
	after := p.After
	if after == 0 {
		after = 1<<63 - 1
	}
	rows, err := q.db.Query(ctx, "SELECT "+commandColumns+` FROM mdm_device_commands
		WHERE device_id = $1 AND id < $2 AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4`, deviceID, after, status, p.First+1)
	if err != nil {
		return nil, false, fmt.Errorf("list commands: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceCommand, error) { return scanCommand(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list commands: %w", err)
	}
	return trimPage(list, p)
}

// nextAfterReport is the command that follows a report, oldest first. A Sent
// command without an answer is offered again (the connection broke). NotNow
// commands wait for the next Idle (idleSQL), which starts a new exchange:
// never re-offered in the exchange that deferred them.
const nextAfterReport = `WITH next AS (
		SELECT id FROM mdm_device_commands WHERE device_id = $1 AND status IN ('Queued', 'Sent')
		ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
	UPDATE mdm_device_commands c SET status = 'Sent', sent_at = now() FROM next WHERE c.id = next.id
	RETURNING c.id, c.request_type, c.uuid, c.command, c.command_sealed`

// idleSQL answers an Idle in one round trip: identity check, last_seen_at
// and the next command. No row means refused; whyRefused says why. The Sent
// event is the caller's to publish once this commits: a statement that
// notifies waits for every notifying commit before its own (events.Publisher).
var idleSQL = `WITH d AS (
		UPDATE enrolled_devices SET last_seen_at = now()
		WHERE ` + identityUsable + ` AND token_updated
		RETURNING id),
	next AS (
		SELECT c.id FROM mdm_device_commands c JOIN d ON c.device_id = d.id
		WHERE c.status IN ('Queued', 'Sent', 'NotNow') ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED),
	sent AS (
		UPDATE mdm_device_commands c SET status = 'Sent', sent_at = now() FROM next WHERE c.id = next.id
		RETURNING c.id, c.request_type, c.uuid, c.command, c.command_sealed)
	SELECT d.id, sent.id, sent.request_type, sent.uuid, sent.command, sent.command_sealed
	FROM d LEFT JOIN sent ON true`

// Idle handles an Idle report of a device channel and returns the next command.
func (q *Queries) Idle(ctx context.Context, ch Channel) (NextCommand, error) {
	var (
		deviceID    int64
		id          *int64
		requestType *string
		uuid        *string
		body        []byte
		sealed      *string
	)
	err := q.db.QueryRow(ctx, idleSQL, ch.DeviceID(), ch.CertHash).Scan(&deviceID, &id, &requestType, &uuid, &body, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return NextCommand{}, q.whyRefused(ctx, ch)
	}
	if err != nil {
		return NextCommand{}, fmt.Errorf("idle: %w", err)
	}
	if uuid == nil {
		return NextCommand{}, nil
	}
	return q.commandToSend(NextCommand{UUID: *uuid, Body: body, ID: *id, DeviceID: deviceID, RequestType: *requestType}, sealed)
}

// whyRefused explains, off the hot path, why a device's request matched nothing.
func (q *Queries) whyRefused(ctx context.Context, ch Channel) error {
	return q.inTx(ctx, func(tx pgx.Tx) error { return refusedBecause(ctx, tx, ch, true) })
}

// reportResultSQL stores a result only for a command of this device that is
// out with it now: Sent. A Queued command was never delivered; a NotNow one
// was answered and waits to be sent again; any other status is final.
var reportResultSQL = `UPDATE mdm_device_commands SET status = $3, result_at = now(), error_chain = $4,
	result_plist = $5, result = $6, result_sealed = $7, ` + forgetSecretOnResult + `
	WHERE uuid = $1 AND device_id = $2 AND status = 'Sent' RETURNING id, request_type, pin_sealed`

// ReportResult stores a command's result and returns the answered command
// and the next one. A result for a command the device was not sent (never,
// not since its NotNow, already answered, or another device's) changes
// nothing: the caller logs it and the device gets its next command as usual
// (answered is nil).
func (q *Queries) ReportResult(ctx context.Context, ch Channel, r Result) (next NextCommand, answered *CommandRef, err error) {
	return q.ReportResultOf(ctx, ch, r, "")
}

// ReportResultOf is ReportResult for a caller that read the request type of
// the command answered (QuickReport's Deferred): the type is not looked up
// again. An empty requestType is looked up.
func (q *Queries) ReportResultOf(ctx context.Context, ch Channel, r Result, requestType string) (next NextCommand, answered *CommandRef, err error) {
	err = q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, true)
		if err != nil {
			return err
		}
		var errorChain []byte
		if len(r.ErrorChain) > 0 {
			if errorChain, err = json.Marshal(r.ErrorChain); err != nil {
				return err
			}
		}
		raw, answer, sealed, err := q.resultToStore(ctx, tx, id, r, requestType)
		if err != nil {
			return err
		}
		c := CommandRef{DeviceID: id}
		var pin *string
		err = tx.QueryRow(ctx, reportResultSQL, r.CommandUUID, id, r.Status, errorChain, raw, answer, sealed).Scan(&c.ID, &c.RequestType, &pin)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store result: %w", err)
		}
		if err == nil {
			answered = &c
		}
		if answered != nil && r.Status == mdmproto.StatusAcknowledged {
			if err := q.rememberUsedPIN(ctx, tx, id, r.CommandUUID, pin); err != nil {
				return err
			}
			if facts, ok := mdmproto.FactsFromResult(c.RequestType, r.JSON); ok {
				if err := applyFacts(ctx, tx, id, facts); err != nil {
					return err
				}
			}
		}
		next, err = q.nextCommand(ctx, tx, id)
		return err
	})
	return next, answered, err
}

func (q *Queries) nextCommand(ctx context.Context, tx pgx.Tx, deviceID int64) (NextCommand, error) {
	next := NextCommand{DeviceID: deviceID}
	var sealed *string
	err := tx.QueryRow(ctx, nextAfterReport, deviceID).Scan(&next.ID, &next.RequestType, &next.UUID, &next.Body, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return NextCommand{}, nil
	}
	if err != nil {
		return NextCommand{}, fmt.Errorf("next command: %w", err)
	}
	return q.commandToSend(next, sealed)
}

// DeviceUser is a user channel of a device.
type DeviceUser struct {
	ID         int64
	DeviceID   int64
	UserID     string
	ShortName  string
	LongName   string
	LastSeenAt *time.Time
	CreatedAt  time.Time
}

// DeviceUsers returns the user channels of a device, in id order.
func (q *Queries) DeviceUsers(ctx context.Context, deviceID int64) ([]DeviceUser, error) {
	all, err := q.DeviceUsersByDeviceIDs(ctx, []int64{deviceID})
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// DeviceUsersByDeviceIDs loads the user channels of many devices in one
// query, for a dataloader: each device's users in id order.
func (q *Queries) DeviceUsersByDeviceIDs(ctx context.Context, deviceIDs []int64) ([][]DeviceUser, error) {
	rows, err := q.db.Query(ctx, `SELECT id, device_id, user_id, short_name, long_name, last_seen_at, created_at
		FROM mdm_device_users WHERE device_id = ANY($1) ORDER BY id`, deviceIDs)
	if err != nil {
		return nil, fmt.Errorf("device users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceUser, error) {
		var u DeviceUser
		err := r.Scan(&u.ID, &u.DeviceID, &u.UserID, &u.ShortName, &u.LongName, &u.LastSeenAt, &u.CreatedAt)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("device users: %w", err)
	}
	return groupByKeys(deviceIDs, users, func(u *DeviceUser) int64 { return u.DeviceID }), nil
}

// TouchUser marks a user channel seen after checking the device's identity.
func (q *Queries) TouchUser(ctx context.Context, ch Channel) error {
	return q.inTx(ctx, func(tx pgx.Tx) error {
		id, err := deviceFor(ctx, tx, ch, true)
		if err != nil {
			return err
		}
		user, _ := ch.UserChannel()
		tag, err := tx.Exec(ctx, "UPDATE mdm_device_users SET last_seen_at = now() WHERE device_id = $1 AND user_id = $2", id, user)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user channel %s: %w", ch.ChannelID(), ErrNotEnrolled)
		}
		return nil
	})
}

// CommandPending reports whether the device has a command of requestType
// queued, sent or deferred (NotNow), not yet answered for good.
func (q *Queries) CommandPending(ctx context.Context, deviceID int64, requestType string) (bool, error) {
	var pending bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mdm_device_commands WHERE device_id = $1
		AND request_type = $2 AND status IN ('Queued', 'Sent', 'NotNow'))`, deviceID, requestType).Scan(&pending)
	if err != nil {
		return false, fmt.Errorf("command pending: %w", err)
	}
	return pending, nil
}
