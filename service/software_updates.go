package service

import (
	"context"
	"slices"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/store"
)

// SyncSoftwareUpdates queues a sync of Apple's software update catalog;
// asking while one waits returns that one.
func (s *Service) SyncSoftwareUpdates(ctx context.Context, actor string) (*rivertype.JobRow, error) {
	var job *rivertype.JobRow
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		res, err := s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.SoftwareUpdateSync{}, nil)
		if err != nil {
			return err
		}
		job = res.Job
		return s.audit(ctx, q, actor, event{action: "software_updates.sync", objectType: "software_update_catalog",
			data: map[string]any{"job_id": res.Job.ID, "unique_skipped_as_duplicate": res.UniqueSkippedAsDuplicate}})
	})
	return job, err
}

// ReplaceSoftwareUpdateCatalog makes a fetched catalog the stored one, in
// one transaction with its audit event: a catalog that does not check out
// changes nothing.
func (s *Service) ReplaceSoftwareUpdateCatalog(ctx context.Context, actor string, c *swupdate.Catalog) (store.SoftwareUpdateCounts, error) {
	var counts store.SoftwareUpdateCounts
	entries, err := c.Entries()
	if err != nil {
		return counts, invalid("software update catalog refused: %s", err)
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		if counts, err = q.ReplaceSoftwareUpdateCatalog(ctx, entries); err != nil {
			return err
		}
		if err := s.requeueLatestEnforcements(ctx, q, counts); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "software_updates.replace_catalog", objectType: "software_update_catalog",
			data: map[string]any{"added": counts.Added, "updated": counts.Updated, "removed": counts.Removed, "total": counts.Total}})
	})
	return counts, err
}

// requeueLatestEnforcements queues a delivery of every latest-minus-N-days
// enforcement when the catalog changed, as the latest release may have.
func (s *Service) requeueLatestEnforcements(ctx context.Context, q *store.Queries, c store.SoftwareUpdateCounts) error {
	if c.Added+c.Updated+c.Removed == 0 {
		return nil
	}
	list, err := q.LatestMinusDaysEnforcements(ctx)
	if err != nil || len(list) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(list))
	var blueprints []int64
	for i, e := range list {
		params[i] = river.InsertManyParams{Args: jobargs.SoftwareUpdateEnforce{BlueprintID: e.BlueprintID, Platform: e.Platform}}
		if !slices.Contains(blueprints, e.BlueprintID) {
			blueprints = append(blueprints, e.BlueprintID)
		}
	}
	if _, err = s.jobs.InsertManyTx(ctx, q.PgxTx(), params); err != nil {
		return err
	}
	// The latest release may have changed: declarative devices sync again.
	return s.blueprintsChanged(ctx, q, blueprints)
}
