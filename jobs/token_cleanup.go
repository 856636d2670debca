package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/store"
)

// tokenRetention is how long expired or revoked token records stay listable.
const tokenRetention = 30 * 24 * time.Hour

// TokenCleanupArgs deletes API token records long expired or revoked, and
// SCEP challenges expired for a day.
type TokenCleanupArgs struct{}

// Kind names the job.
func (TokenCleanupArgs) Kind() string { return "token_cleanup" }

// InsertOpts keeps one cleanup queued at a time.
func (TokenCleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}
}

// TokenCleanupWorker works TokenCleanupArgs.
type TokenCleanupWorker struct {
	river.WorkerDefaults[TokenCleanupArgs]
	store *store.Store
}

// Work deletes the old records and reports how many went.
func (w *TokenCleanupWorker) Work(ctx context.Context, job *river.Job[TokenCleanupArgs]) error {
	n, err := w.store.DeleteStaleAPITokens(ctx, time.Now().Add(-tokenRetention))
	if err != nil {
		return err
	}
	challenges, err := w.store.DeleteStaleSCEPChallenges(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"deleted": n, "scep_challenges_deleted": challenges})
}
