package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
)

// renewalBatch bounds one transaction of renewals; a run goes on until none is due.
const renewalBatch = 500

// IdentityRenewalWorker works jobargs.IdentityRenewal.
type IdentityRenewalWorker struct {
	river.WorkerDefaults[jobargs.IdentityRenewal]
	svc *service.Service
}

// Timeout leaves room for a fleet whose identities were all issued the same week.
func (w *IdentityRenewalWorker) Timeout(*river.Job[jobargs.IdentityRenewal]) time.Duration {
	return 15 * time.Minute
}

// Work queues renewals in batches until none is due, and records how many.
func (w *IdentityRenewalWorker) Work(ctx context.Context, job *river.Job[jobargs.IdentityRenewal]) error {
	total := 0
	for {
		n, err := w.svc.RenewIdentities(ctx, "job:identity_renewal", service.RenewIdentitiesWithin, renewalBatch)
		if err != nil {
			return err
		}
		total += n
		if n < renewalBatch {
			return river.RecordOutput(ctx, map[string]int{"queued": total})
		}
	}
}
