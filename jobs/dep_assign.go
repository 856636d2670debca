package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/service"
)

// autoAssignRetryAfter is how long a device Apple refused waits before the
// default profile is tried on it again.
const autoAssignRetryAfter = 6 * time.Hour

// DEPAssignDefaultWorker works jobargs.DEPAssignDefault.
type DEPAssignDefaultWorker struct {
	river.WorkerDefaults[jobargs.DEPAssignDefault]
	svc *service.Service
	// pause is the wait between batches, to stay under Apple's rate limits.
	pause time.Duration
}

// Timeout leaves room for tens of thousands of assignments, in Apple's
// batches, with its rate limits.
func (w *DEPAssignDefaultWorker) Timeout(*river.Job[jobargs.DEPAssignDefault]) time.Duration {
	return 15 * time.Minute
}

// Work assigns in batches of Apple's largest size, pausing between batches;
// the client backs off on 429 and River retries the job with backoff.
func (w *DEPAssignDefaultWorker) Work(ctx context.Context, job *river.Job[jobargs.DEPAssignDefault]) error {
	s := w.svc.Store()
	vs, client, err := w.svc.DEPClient(ctx, job.Args.VirtualServerID)
	if err != nil {
		return cancelUnlessTransient(err)
	}
	if vs.DefaultProfileID == nil {
		return river.RecordOutput(ctx, map[string]any{"assigned": 0})
	}
	profile, err := s.DEPProfile(ctx, *vs.DefaultProfileID)
	if err != nil {
		return err
	}
	if profile.ProfileUUID == "" {
		return river.JobCancel(errors.New("the default profile was never defined with Apple"))
	}
	assigned, refused := 0, 0
	for batch := 0; ; batch++ {
		serials, err := s.DEPDevicesToAutoAssign(ctx, vs.ID, time.Now().Add(-autoAssignRetryAfter), dep.MaxPage)
		if err != nil || len(serials) == 0 {
			if err == nil {
				err = river.RecordOutput(ctx, map[string]any{"assigned": assigned, "refused": refused, "batches": batch})
			}
			return err
		}
		if batch > 0 {
			if err := sleepCtx(ctx, w.pause); err != nil {
				return err
			}
		}
		// Marked first, so a device Apple keeps refusing cannot hold the job in a loop.
		if err := s.MarkDEPAutoAssignTried(ctx, serials); err != nil {
			return err
		}
		res, err := client.AssignProfile(ctx, profile.ProfileUUID, serials)
		if err != nil {
			return fmt.Errorf("assign default profile %q: %w", profile.Name, err)
		}
		ok := res.Succeeded()
		if err := w.svc.RecordDEPProfileStatus(ctx, "job:dep_assign_default_profile", ok, dep.ProfileAssigned, profile.ProfileUUID); err != nil {
			return err
		}
		assigned, refused = assigned+len(ok), refused+len(serials)-len(ok)
		if err := ReportProgress(ctx, s.Pool(), job.JobRow, map[string]any{"assigned": assigned, "refused": refused}); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
