package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LocationAssetOperation is a licence assignment (or removal) for devices.
type LocationAssetOperation struct {
	ID              int64
	LocationAssetID int64
	Associate       bool
	DeviceIDs       []int64
	SerialNumbers   []string
	EventIDs        []string
	Status          string
}

// InsertLocationAssetOperation records an operation to carry out.
func (q *Queries) InsertLocationAssetOperation(ctx context.Context, assetID int64, associate bool, deviceIDs []int64, serials []string) (int64, error) {
	kind := "disassociate"
	if associate {
		kind = "associate"
	}
	var id int64
	err := q.db.QueryRow(ctx, `INSERT INTO location_asset_operations (location_asset_id, kind, device_ids, serial_numbers)
		VALUES ($1, $2, $3, $4) RETURNING id`, assetID, kind, deviceIDs, serials).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("location asset operation: %w", err)
	}
	return id, nil
}

// LocationAssetOperation returns one operation.
func (q *Queries) LocationAssetOperation(ctx context.Context, id int64) (LocationAssetOperation, error) {
	var o LocationAssetOperation
	var kind string
	err := q.db.QueryRow(ctx, `SELECT id, location_asset_id, kind, device_ids, serial_numbers, event_ids, status
		FROM location_asset_operations WHERE id = $1`, id).Scan(&o.ID, &o.LocationAssetID, &kind, &o.DeviceIDs,
		&o.SerialNumbers, &o.EventIDs, &o.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	o.Associate = kind == "associate"
	return o, err
}

// AddLocationOperationEvent keeps the eventId of the operation's next batch.
func (q *Queries) AddLocationOperationEvent(ctx context.Context, id int64, eventID string) error {
	_, err := q.db.Exec(ctx, `UPDATE location_asset_operations SET event_ids = array_append(event_ids, $2) WHERE id = $1`, id, eventID)
	return err
}

// FinishLocationAssetOperation marks an operation complete; false when it
// already was (a job run twice applies it once).
func (q *Queries) FinishLocationAssetOperation(ctx context.Context, id int64, done, failed int) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE location_asset_operations SET status = 'complete', done_count = $2, failed_count = $3,
		finished_at = now() WHERE id = $1 AND status = 'pending'`, id, done, failed)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// DeviceSerialNumbers maps enrolled device ids to their serial numbers;
// devices without one, or that do not exist, are left out.
func (q *Queries) DeviceSerialNumbers(ctx context.Context, ids []int64) (map[int64]string, error) {
	rows, err := q.db.Query(ctx, `SELECT id, serial_number FROM enrolled_devices
		WHERE id = ANY($1) AND serial_number <> ''`, ids)
	if err != nil {
		return nil, fmt.Errorf("device serial numbers: %w", err)
	}
	out := map[int64]string{}
	var id int64
	var sn string
	_, err = pgx.ForEachRow(rows, []any{&id, &sn}, func() error { out[id] = sn; return nil })
	return out, err
}
