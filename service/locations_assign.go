package service

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/store"
)

// MaxLicenceDevices bounds one assignment: Apple takes 1,000 serial numbers
// a call, so this is at most ten calls.
const MaxLicenceDevices = 10000

// AssignAsset gives (associate true) or takes back licences of a location
// asset for devices, by their serial numbers, through a job that calls
// Apple in batches and waits for its events. It returns the job.
func (s *Service) AssignAsset(ctx context.Context, actor string, assetID int64, deviceIDs []int64, associate bool) (*rivertype.JobRow, error) {
	ids := slices.Clone(deviceIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 || len(ids) > MaxLicenceDevices {
		return nil, invalid("give 1 to %d devices", MaxLicenceDevices)
	}
	var job *rivertype.JobRow
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		a, err := q.LocationAsset(ctx, assetID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no location asset with id %d", assetID)
		} else if err != nil {
			return err
		}
		if associate && !a.DeviceAssignable {
			return invalid("asset %s cannot be assigned to devices", a.AdamID)
		}
		serials, err := q.DeviceSerialNumbers(ctx, ids)
		if err != nil {
			return err
		}
		sn := make([]string, len(ids))
		for i, id := range ids {
			if sn[i] = serials[id]; sn[i] == "" {
				return notFound("no enrolled device with id %d and a serial number", id)
			}
		}
		if associate && len(ids) > a.AvailableCount {
			return invalid("asset %s has %d licences available, not %d", a.AdamID, a.AvailableCount, len(ids))
		}
		opID, err := q.InsertLocationAssetOperation(ctx, assetID, associate, ids, sn)
		if err != nil {
			return err
		}
		res, err := s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.LocationAssign{OperationID: opID}, nil)
		if err != nil {
			return err
		}
		job = res.Job
		action := "location_asset.assign"
		if !associate {
			action = "location_asset.unassign"
		}
		return s.audit(ctx, q, actor, event{action: action, objectType: "location_asset", objectID: idString(assetID),
			data: map[string]any{"adam_id": a.AdamID, "devices": len(ids), "operation_id": opID, "job_id": job.ID}})
	})
	return job, err
}

// FinishAssetOperation records what Apple did for an operation's devices
// (all but the failed serial numbers), moves the counts, and for an
// assignment queues InstallApplication with the licence for those devices;
// one transaction, one audit event. Done twice, it changes nothing.
func (s *Service) FinishAssetOperation(ctx context.Context, opID int64, failed map[string]bool) error {
	return s.store.Tx(ctx, func(q *store.Queries) error {
		op, err := q.LocationAssetOperation(ctx, opID)
		if err != nil {
			return err
		}
		a, err := q.LocationAsset(ctx, op.LocationAssetID)
		if err != nil {
			return err
		}
		var done []appsbooks.Assignment
		var devices []int64
		for i, sn := range op.SerialNumbers {
			if !failed[sn] {
				done = append(done, appsbooks.Assignment{AdamID: a.AdamID, PricingParam: a.PricingParam, SerialNumber: sn})
				devices = append(devices, op.DeviceIDs[i])
			}
		}
		if fresh, err := q.FinishLocationAssetOperation(ctx, opID, len(done), len(op.SerialNumbers)-len(done)); err != nil || !fresh {
			return err
		}
		if _, err := q.ApplyLocationAssignments(ctx, a.LocationID, op.Associate, done); err != nil {
			return err
		}
		queued := 0
		if op.Associate {
			if queued, err = s.queueInstallApplication(ctx, q, a.AdamID, devices); err != nil {
				return err
			}
		}
		return s.audit(ctx, q, "job:location_assign", event{action: "location_asset.operation_done", objectType: "location_asset",
			objectID: idString(a.ID), data: map[string]any{"operation_id": opID, "done": len(done),
				"failed": len(op.SerialNumbers) - len(done), "install_commands": queued}})
	})
}

// queueInstallApplication queues the licensed app for devices still
// managed (blocked and checked-out ones are skipped), and their pushes.
func (s *Service) queueInstallApplication(ctx context.Context, q *store.Queries, adamID string, devices []int64) (int, error) {
	storeID, err := strconv.ParseInt(adamID, 10, 64)
	if err != nil {
		return 0, nil // a book: nothing to install
	}
	payload := map[string]any{"iTunesStoreID": storeID, "ManagementFlags": 1,
		// PurchaseMethod 1: install with the device's Apps and Books licence.
		"Options": map[string]any{"PurchaseMethod": 1}}
	var queued []int64
	for _, id := range devices {
		d, err := q.DeviceForUpdate(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (d.BlockedAt != nil || d.CheckoutAt != nil)) {
			continue
		} else if err != nil {
			return 0, err
		}
		uuid, body, err := mdmproto.NewCommand("InstallApplication", payload)
		if err != nil {
			return 0, err
		}
		if _, err := q.QueueCommand(ctx, store.QueuedCommand{DeviceID: id, UUID: uuid,
			RequestType: "InstallApplication", Body: body, Actor: "job:location_assign"}); err != nil {
			return 0, err
		}
		queued = append(queued, id)
	}
	return len(queued), s.pushInTx(ctx, q, queued)
}
