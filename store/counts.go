package store

import (
	"context"
	"fmt"
)

// CountJobs counts River jobs of a kind and in a state ("" matches any),
// for JobConnection.totalCount: exactly up to ExactCountBound, past it the
// planner's estimate. Finished jobs stay in river_job until River's cleaner
// removes them, so the table grows with the fleet's pushes and syncs.
func (q *Queries) CountJobs(ctx context.Context, kind, state string) (int, error) {
	// Unordered: River indexes kind and state, not either with the id, so
	// the count takes whichever index the filter has and stops at the bound.
	n, err := q.boundedCount(ctx, "river_job", func(w *whereBuilder) {
		if kind != "" {
			w.add("kind = %s", kind)
		}
		if state != "" {
			// Compared as River's enum, not as text: the planner has the
			// column's statistics for the estimate and its indexes for the count.
			w.add("state = %s::river_job_state", state)
		}
	}, false)
	if err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// CountDeviceCommands counts a device's commands in a status ("" matches
// any), as ListDeviceCommands lists them: exactly up to ExactCountBound,
// past it the planner's estimate. In id order, along the (device_id, id)
// index the list itself reads.
func (q *Queries) CountDeviceCommands(ctx context.Context, deviceID int64, status string) (int, error) {
	n, err := q.boundedCount(ctx, "mdm_device_commands", func(w *whereBuilder) {
		w.add("device_id = %s", deviceID)
		if status != "" {
			w.add("status = %s", status)
		}
	}, true)
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
