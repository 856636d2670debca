package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store/seal"
)

// The sealed columns of a command a caller may open (OpenCommandSecret).
const (
	// PINColumn holds the Find My PIN of a DeviceLock or EraseDevice.
	PINColumn = "pin_sealed"
	// ResultColumn holds an answer that may carry a secret (JSON).
	ResultColumn = "result_sealed"
	// commandBodyColumn holds a command plist that may carry a secret; only
	// the device is served it.
	commandBodyColumn = "command_sealed"
)

// ErrMustSeal: a command that may carry a secret was queued through a path
// that would store it in the clear.
var ErrMustSeal = errors.New("command must be queued sealed (Store.QueueCommand)")

// QueuedCommand is a built command (mdmproto.NewCommand) to queue.
type QueuedCommand struct {
	DeviceID    int64
	UUID        string
	RequestType string
	Body        []byte
	// PIN is the Find My PIN the command carries ("" for none), kept sealed
	// with the command for good: the device that ran it asks for it later.
	PIN   string
	Actor string
}

type sealedCommand struct{ body, pin *string }

// commandPlace binds a sealed value to its command. The CommandUUID is unique
// and known before the row exists, so the value is written sealed at once.
func commandPlace(uuid, column string) seal.Place {
	return seal.Place{Table: "mdm_device_commands", Column: column, RowID: uuid}
}

// QueueCommand queues a command, sealing its
// plist when it may carry a secret, and its PIN.
func (q *Queries) QueueCommand(ctx context.Context, c QueuedCommand) (DeviceCommand, error) {
	var sealed sealedCommand
	if mdmproto.CommandCarriesSecret(c.RequestType) {
		body, err := q.sealer.Seal(c.Body, commandPlace(c.UUID, commandBodyColumn))
		if err != nil {
			return DeviceCommand{}, err
		}
		sealed.body = &body
	}
	if c.PIN != "" {
		pin, err := q.sealer.Seal([]byte(c.PIN), commandPlace(c.UUID, PINColumn))
		if err != nil {
			return DeviceCommand{}, err
		}
		sealed.pin = &pin
	}
	return insertCommand(ctx, q.db, c, sealed)
}

// commandToSend is the plist a device is served: opened when sealed.
func (q *Queries) commandToSend(next NextCommand, sealed *string) (NextCommand, error) {
	if sealed == nil {
		return next, nil
	}
	plain, err := q.sealer.Open(*sealed, commandPlace(next.UUID, commandBodyColumn))
	if err != nil {
		return NextCommand{}, fmt.Errorf("open command %s: %w", next.UUID, err)
	}
	next.Body = plain
	return next, nil
}

// resultToStore returns what to store of an answer: the raw plist and JSON
// in the clear, or only the JSON sealed when the answer may carry a secret.
// The command's request type is looked up unless the caller knows it.
func (q *Queries) resultToStore(ctx context.Context, tx pgx.Tx, deviceID int64, r Result, requestType string) (raw, answer []byte, sealed *string, err error) {
	if requestType == "" {
		err = tx.QueryRow(ctx, "SELECT request_type FROM mdm_device_commands WHERE uuid = $1 AND device_id = $2",
			r.CommandUUID, deviceID).Scan(&requestType)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil, nil // not this device's command: nothing is stored
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("command of result: %w", err)
	}
	if !mdmproto.ResultCarriesSecret(requestType) {
		return r.Raw, r.JSON, nil, nil
	}
	if r.JSON == nil {
		return nil, nil, nil, nil
	}
	v, err := q.sealer.Seal(r.JSON, commandPlace(r.CommandUUID, ResultColumn))
	if err != nil {
		return nil, nil, nil, err
	}
	return nil, nil, &v, nil
}

// rememberUsedPIN makes the PIN of an acknowledged lock or erase the
// device's lockPin: the one the Mac now asks for.
func (q *Queries) rememberUsedPIN(ctx context.Context, tx pgx.Tx, deviceID int64, uuid string, sealed *string) error {
	if sealed == nil {
		return nil
	}
	pin, err := q.sealer.Open(*sealed, commandPlace(uuid, PINColumn))
	if err != nil {
		return fmt.Errorf("open PIN of command %s: %w", uuid, err)
	}
	return q.SetDeviceSecret(ctx, tx, deviceID, "lock_pin_sealed", pin)
}

// OpenCommandSecret returns a command's sealed PIN or answer in the clear
// (nil when none), read inside tx so callers can audit the reveal with it.
func (q *Queries) OpenCommandSecret(ctx context.Context, uuid, column string) ([]byte, error) {
	if column != PINColumn && column != ResultColumn {
		return nil, fmt.Errorf("command secret: unknown column %q", column)
	}
	var sealed *string
	err := q.db.QueryRow(ctx, "SELECT "+column+" FROM mdm_device_commands WHERE uuid = $1", uuid).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil || sealed == nil {
		return nil, err
	}
	plain, err := q.sealer.Open(*sealed, commandPlace(uuid, column))
	if err != nil {
		return nil, fmt.Errorf("open %s of command %s: %w", column, uuid, err)
	}
	return plain, nil
}

// A command that may carry a secret loses its plist once it can no longer be
// sent (answered or cancelled; NotNow is sent again). Rows queued before
// sealing existed hold the plist in the clear: those are emptied too. A PIN
// stays with its command unless the device was never sent it.
var (
	forgetSecretOnCancel = `command = CASE WHEN request_type IN (` + secretCommandTypes() + `) THEN ''::bytea ELSE command END,
		command_sealed = NULL, pin_sealed = CASE WHEN sent_at IS NULL THEN NULL ELSE pin_sealed END`
	forgetSecretOnResult = `command = CASE WHEN request_type IN (` + secretCommandTypes() + `) AND $3 <> 'NotNow'
		THEN ''::bytea ELSE command END,
		command_sealed = CASE WHEN $3 <> 'NotNow' THEN NULL ELSE command_sealed END`
)

// secretCommandTypes is the SQL list of the request types whose commands may
// carry a secret (fixed identifiers from mdmproto, quoted all the same).
func secretCommandTypes() string {
	var quoted []string
	for _, t := range mdmproto.KnownRequestTypes {
		if mdmproto.CommandCarriesSecret(t) {
			quoted = append(quoted, "'"+strings.ReplaceAll(t, "'", "''")+"'")
		}
	}
	return strings.Join(quoted, ", ")
}
