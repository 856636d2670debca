package store

import (
	"context"
	"fmt"
)

// CountJobs counts River jobs of a kind and in a state ("" matches any),
// for JobConnection.totalCount.
func (q *Queries) CountJobs(ctx context.Context, kind, state string) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM river_job
		WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR state::text = $2)`, kind, state).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// CountDeviceCommands counts a device's commands in a status ("" matches
// any), as ListDeviceCommands lists them.
func (q *Queries) CountDeviceCommands(ctx context.Context, deviceID int64, status string) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands
		WHERE device_id = $1 AND ($2 = '' OR status = $2)`, deviceID, status).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count commands: %w", err)
	}
	return n, nil
}

// InventoryList names one of a device's inventory lists.
type InventoryList int

// The inventory lists a device reports.
const (
	InventoryApplications InventoryList = iota
	InventoryCertificates
	InventoryProfiles
)

// inventoryCounts holds the count query of each list: table names are never
// built from input.
var inventoryCounts = map[InventoryList]string{
	InventoryApplications: `SELECT count(*) FROM device_installed_applications WHERE device_id = $1`,
	InventoryCertificates: `SELECT count(*) FROM device_certificates WHERE device_id = $1`,
	InventoryProfiles:     `SELECT count(*) FROM device_profiles WHERE device_id = $1`,
}

// CountInventory counts the entries of one of a device's inventory lists.
func (q *Queries) CountInventory(ctx context.Context, list InventoryList, deviceID int64) (int, error) {
	query, ok := inventoryCounts[list]
	if !ok {
		return 0, fmt.Errorf("count inventory: unknown list %d", list)
	}
	var n int
	if err := q.db.QueryRow(ctx, query, deviceID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count inventory: %w", err)
	}
	return n, nil
}
