package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store"
)

// tokenRetention is how long expired or revoked token records stay listable.
const tokenRetention = 30 * 24 * time.Hour

// TokenCleanupWorker works jobargs.TokenCleanup.
type TokenCleanupWorker struct {
	river.WorkerDefaults[jobargs.TokenCleanup]
	store *store.Store
}

// Work deletes the old records and reports how many went.
func (w *TokenCleanupWorker) Work(ctx context.Context, job *river.Job[jobargs.TokenCleanup]) error {
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
