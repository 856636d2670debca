package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
)

// InventoryWorker works jobargs.Inventory.
type InventoryWorker struct {
	river.WorkerDefaults[jobargs.Inventory]
	service *service.Service
}

// Timeout: a run over a large fleet may take a while; the batches it
// committed stay done when it is cut short.
func (w *InventoryWorker) Timeout(*river.Job[jobargs.Inventory]) time.Duration {
	return 10 * time.Minute
}

// Work queues the due inventories and recovery passwords, and reports counts.
func (w *InventoryWorker) Work(ctx context.Context, job *river.Job[jobargs.Inventory]) error {
	run, err := w.service.RequestInventory(ctx)
	if err != nil {
		return err
	}
	passwords, err := w.service.EnforceRecoveryPasswords(ctx)
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"devices": run.Devices, "commands": run.Commands,
		"recovery_passwords": passwords})
}

func inventoryPeriodicJob(every time.Duration) []*river.PeriodicJob {
	if every <= 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return jobargs.Inventory{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}
