package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CommandRef names a command for status events and result processing.
type CommandRef struct {
	ID          int64
	DeviceID    int64
	RequestType string
}

// CommandRefByUUID finds a command by its CommandUUID.
func (q *Queries) CommandRefByUUID(ctx context.Context, uuid string) (CommandRef, error) {
	var c CommandRef
	err := q.db.QueryRow(ctx, "SELECT id, device_id, request_type FROM mdm_device_commands WHERE uuid = $1", uuid).
		Scan(&c.ID, &c.DeviceID, &c.RequestType)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("command %s: %w", uuid, err)
	}
	return c, nil
}

// CommandByID returns one command.
func (q *Queries) CommandByID(ctx context.Context, id int64) (DeviceCommand, error) {
	c, err := scanCommand(q.db.QueryRow(ctx, "SELECT "+commandColumns+" FROM mdm_device_commands WHERE id = $1", id))
	if err != nil {
		return c, fmt.Errorf("command %d: %w", id, err)
	}
	return c, nil
}

// SetAwaitingConfiguration records whether a device waits in Setup Assistant.
func (q *Queries) SetAwaitingConfiguration(ctx context.Context, deviceID int64, awaiting bool) error {
	_, err := q.db.Exec(ctx, "UPDATE enrolled_devices SET awaiting_configuration = $2, updated_at = now() WHERE id = $1",
		deviceID, awaiting)
	return err
}
