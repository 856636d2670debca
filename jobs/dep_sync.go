package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// depLockBase is the advisory lock space of DEP syncs ("dep" + server id), a
// second guard behind River's uniqueness: one sync per server, ever.
const depLockBase = 0x6465700000000000

// DEPSyncOutput is the job's output, and its progress while it runs.
type DEPSyncOutput = service.DEPSyncOutput

// DEPSyncWorker works jobargs.DEPSync.
type DEPSyncWorker struct {
	river.WorkerDefaults[jobargs.DEPSync]
	svc *service.Service
}

// Timeout leaves room for 100,000-device fetches on a slow Apple day, and
// stays under River's stuck-job rescue (45 min) so a slow sync is not rescued
// and run twice.
func (w *DEPSyncWorker) Timeout(*river.Job[jobargs.DEPSync]) time.Duration { return 40 * time.Minute }

// Work fetches or syncs until Apple has nothing more, saving each page with
// its cursor in one transaction.
func (w *DEPSyncWorker) Work(ctx context.Context, job *river.Job[jobargs.DEPSync]) error {
	start := time.Now()
	unlock, ok, err := w.lock(ctx, job.Args.VirtualServerID)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(time.Minute)
	}
	defer unlock()
	_, client, err := w.svc.DEPClient(ctx, job.Args.VirtualServerID)
	if err != nil {
		return cancelUnlessTransient(err)
	}
	if job.Args.FullSync {
		if err := w.svc.RestartDEPFetch(ctx, job.Args.VirtualServerID); err != nil {
			return err
		}
	}
	out, err := w.svc.SyncDEPDevices(ctx, job.Args.VirtualServerID, client, func(progress DEPSyncOutput) error {
		return ReportProgress(ctx, w.svc.Store().Pool(), job.JobRow, progress)
	})
	out.Duration = time.Since(start).Seconds()
	if err != nil {
		if dep.HasCode(err, dep.CodeTermsNotSigned, dep.CodeAccessDenied) {
			// Retrying cannot help until someone acts in Apple Business Manager.
			return river.JobCancel(err)
		}
		return err
	}
	if err := w.queueAutoAssign(ctx, job.Args.VirtualServerID); err != nil {
		return err
	}
	return river.RecordOutput(ctx, out)
}

// lock takes the server's advisory lock on a connection held for the job;
// a crashed worker's connection closes and frees it.
func (w *DEPSyncWorker) lock(ctx context.Context, serverID int64) (func(), bool, error) {
	conn, err := w.svc.Store().Pool().Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", depLockBase+serverID).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", depLockBase+serverID); err != nil {
			// Never hand a connection still holding the lock back to the pool.
			_ = conn.Hijack().Close(context.Background())
			return
		}
		conn.Release()
	}, true, nil
}

func (w *DEPSyncWorker) queueAutoAssign(ctx context.Context, serverID int64) error {
	vs, err := w.svc.Store().DEPVirtualServer(ctx, serverID)
	if err != nil || vs.DefaultProfileID == nil {
		return err
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	_, err = client.Insert(ctx, jobargs.DEPAssignDefault{VirtualServerID: serverID}, nil)
	return err
}

// DEPSyncAllWorker works jobargs.DEPSyncAll.
type DEPSyncAllWorker struct {
	river.WorkerDefaults[jobargs.DEPSyncAll]
	store *store.Store
}

// Work queues one sync per server; servers already syncing keep their job.
func (w *DEPSyncAllWorker) Work(ctx context.Context, job *river.Job[jobargs.DEPSyncAll]) error {
	servers, err := w.store.ListDEPVirtualServers(ctx)
	if err != nil {
		return err
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	for _, vs := range servers {
		if _, err := client.Insert(ctx, jobargs.DEPSync{VirtualServerID: vs.ID}, nil); err != nil {
			return err
		}
	}
	return river.RecordOutput(ctx, map[string]any{"queued": len(servers)})
}
