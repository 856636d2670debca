// Package jobargs defines the arguments of every River job orchard runs. It
// sits below both the service layer, which inserts jobs in the transaction of
// the change that needs them, and the workers in jobs/, which run them.
package jobargs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Client inserts jobs; it is River's client on pgx.
type Client = river.Client[pgx.Tx]

// queuedOrRunning are the states in which a unique job blocks another like it:
// finished, cancelled or discarded jobs do not.
var queuedOrRunning = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// Push wakes devices through APNs so they connect and fetch their commands.
type Push struct {
	DeviceIDs []int64 `json:"device_ids"`
	// Deferred marks the follow-up of pushes the coalescing window put off.
	Deferred bool `json:"deferred,omitempty"`
	// Retry counts failed rounds of these devices' pushes (APNs 429/5xx or
	// network). A retry ignores the window: the earlier push never arrived.
	Retry int `json:"retry,omitempty"`
}

// Kind names the job.
func (Push) Kind() string { return "apns_push" }

// InsertOpts: River retries only failures of the job itself (the database);
// pushes that fail are retried by follow-up jobs carrying just those devices.
func (Push) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

// PushChunk is the most devices one push job takes, so a push to a whole
// fleet spreads over workers and no job argument grows without bound.
const PushChunk = 1000

// InsertPushTx queues pushes to devices inside tx, in jobs of at most
// PushChunk devices, so the push exists exactly when what it announces does.
func InsertPushTx(ctx context.Context, client *Client, tx pgx.Tx, deviceIDs []int64) ([]*rivertype.JobRow, error) {
	ids := slices.Clone(deviceIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var params []river.InsertManyParams
	for chunk := range slices.Chunk(ids, PushChunk) {
		params = append(params, river.InsertManyParams{Args: Push{DeviceIDs: chunk}})
	}
	if len(params) == 0 {
		return nil, nil
	}
	res, err := client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue pushes: %w", err)
	}
	rows := make([]*rivertype.JobRow, len(res))
	for i, r := range res {
		rows[i] = r.Job
	}
	return rows, nil
}

// EnqueuePushTx is InsertPushTx for callers that do not need the jobs.
func EnqueuePushTx(ctx context.Context, client *Client, tx pgx.Tx, deviceIDs []int64) error {
	_, err := InsertPushTx(ctx, client, tx, deviceIDs)
	return err
}

// PushCertExpiry checks push certificates for coming expiry.
type PushCertExpiry struct{}

// Kind names the job.
func (PushCertExpiry) Kind() string { return "apns_cert_expiry" }

// InsertOpts keeps one check queued at a time.
func (PushCertExpiry) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}
}

// TokenCleanup deletes API token records long expired or revoked, and
// SCEP challenges expired for a day.
type TokenCleanup struct{}

// Kind names the job.
func (TokenCleanup) Kind() string { return "token_cleanup" }

// InsertOpts keeps one cleanup queued at a time.
func (TokenCleanup) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}
}

// DEPSync syncs one virtual server's devices from Apple.
type DEPSync struct {
	VirtualServerID int64 `json:"virtual_server_id" river:"unique"`
	// FullSync fetches every device again instead of syncing changes.
	FullSync bool `json:"full_sync,omitempty"`
}

// Kind names the job.
func (DEPSync) Kind() string { return "dep_sync" }

// InsertOpts keep one sync per server queued or running; asking again while
// one waits returns that one.
func (DEPSync) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}
}

// DEPSyncAll queues a sync of every virtual server (the periodic job).
type DEPSyncAll struct{}

// Kind names the job.
func (DEPSyncAll) Kind() string { return "dep_sync_all" }

// DEPAssignDefault assigns a server's default profile to its devices that have none.
type DEPAssignDefault struct {
	VirtualServerID int64 `json:"virtual_server_id"`
}

// Kind names the job.
func (DEPAssignDefault) Kind() string { return "dep_assign_default_profile" }

// InsertOpts keep one assignment per server queued or running.
func (DEPAssignDefault) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}
}

// IdentityRenewal sends devices whose identity expires soon their enrollment
// profile again (the periodic job).
type IdentityRenewal struct{}

// Kind names the job.
func (IdentityRenewal) Kind() string { return "identity_renewal" }

// InsertOpts keeps one renewal run queued at a time.
func (IdentityRenewal) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}
}

// LocationSync syncs one Apps and Books location's assets and assignments.
type LocationSync struct {
	LocationID int64 `json:"location_id" river:"unique"`
}

// Kind names the job.
func (LocationSync) Kind() string { return "location_sync" }

// InsertOpts keep one sync per location queued or running.
func (LocationSync) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}
}

// LocationSyncAll queues a sync of every location (the periodic job).
type LocationSyncAll struct{}

// Kind names the job.
func (LocationSyncAll) Kind() string { return "location_sync_all" }

// LocationAssign carries out a licence operation: Apple's associate or
// disassociate calls in batches, then the events' polling.
type LocationAssign struct {
	OperationID int64 `json:"operation_id" river:"unique"`
}

// Kind names the job.
func (LocationAssign) Kind() string { return "location_assign" }

// InsertOpts keep one job per operation queued or running.
func (LocationAssign) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}
}
