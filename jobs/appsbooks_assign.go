package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// maxSerialsPerCall is Apple's documented limit, used when service/config
// does not say.
const maxSerialsPerCall = 1000

// LocationAssignWorker works jobargs.LocationAssign.
type LocationAssignWorker struct {
	river.WorkerDefaults[jobargs.LocationAssign]
	svc *service.Service
	// poll is the wait between two status polls of an event.
	poll time.Duration
}

// Timeout leaves Apple time to work through events of thousands of devices.
func (w *LocationAssignWorker) Timeout(*river.Job[jobargs.LocationAssign]) time.Duration {
	return 30 * time.Minute
}

// Work sends the batches not sent yet (their eventIds are kept, so a retry
// sends only the rest), waits for every event, then records the outcome.
func (w *LocationAssignWorker) Work(ctx context.Context, job *river.Job[jobargs.LocationAssign]) error {
	s := w.svc.Store()
	op, err := s.LocationAssetOperation(ctx, job.Args.OperationID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	} else if err != nil || op.Status != "pending" {
		return err
	}
	asset, err := s.LocationAsset(ctx, op.LocationAssetID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	_, client, err := w.svc.LocationClient(ctx, asset.LocationID)
	if err != nil {
		return cancelUnlessLocationTransient(err)
	}
	batches := slices.Collect(slices.Chunk(op.SerialNumbers, batchSize(ctx, client)))
	ref := []appsbooks.AssetRef{{AdamID: asset.AdamID, PricingParam: asset.PricingParam}}
	for i := len(op.EventIDs); i < len(batches); i++ {
		call := client.Disassociate
		if op.Associate {
			call = client.Associate
		}
		ev, err := call(ctx, appsbooks.ManageRequest{Assets: ref, SerialNumbers: batches[i]})
		if err != nil {
			return appsBooksJobError(err)
		}
		if err := s.AddLocationOperationEvent(ctx, op.ID, ev.EventID); err != nil {
			return err
		}
		op.EventIDs = append(op.EventIDs, ev.EventID)
	}
	failed, err := w.waitForEvents(ctx, job, client, op.EventIDs, batches)
	if err != nil {
		return appsBooksJobError(err)
	}
	if err := w.svc.FinishAssetOperation(ctx, op.ID, failed); err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"calls": len(batches), "devices": len(op.SerialNumbers), "failed": len(failed)})
}

// batchSize is Apple's maxSerialNumbers from service/config, at most 1,000.
func batchSize(ctx context.Context, c *appsbooks.Client) int {
	cfg, err := c.ServiceConfig(ctx)
	if err != nil || cfg.Limits.MaxSerialNumbers <= 0 {
		return maxSerialsPerCall
	}
	return min(cfg.Limits.MaxSerialNumbers, maxSerialsPerCall)
}

// waitForEvents polls each event until Apple says COMPLETE or FAILED, and
// returns the serial numbers Apple did not carry out.
func (w *LocationAssignWorker) waitForEvents(ctx context.Context, job *river.Job[jobargs.LocationAssign], c *appsbooks.Client,
	events []string, batches [][]string) (map[string]bool, error) {
	failed := map[string]bool{}
	for i, id := range events {
		for {
			st, err := c.Status(ctx, id)
			if err != nil {
				return nil, err
			}
			if st.EventStatus == appsbooks.EventFailed {
				for _, sn := range batches[i] {
					failed[sn] = true
				}
				break
			}
			if st.EventStatus == appsbooks.EventComplete {
				for _, f := range st.Failures {
					failed[f.SerialNumber] = true
				}
				break
			}
			if err := sleepCtx(ctx, w.poll); err != nil {
				return nil, fmt.Errorf("waiting for Apple's event %s: %w", id, err)
			}
		}
		if err := ReportProgress(ctx, w.svc.Store().Pool(), job.JobRow, map[string]any{"events_done": i + 1, "events": len(events)}); err != nil {
			return nil, err
		}
	}
	return failed, nil
}
