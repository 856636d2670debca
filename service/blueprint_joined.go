package service

import (
	"context"
	"slices"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store"
)

// blueprintJoinedInTx brings devices an assignment moved into a blueprint in
// line with it at once, as a change to the blueprint does for the devices it
// had: a profile reconcile of the moved devices (what the blueprint lists is
// installed, what orchard installed for the former one and this one does not
// list is removed), a DeclarativeManagement command carrying the blueprint's
// tokens, a run of each of its software update enforcements that concerns
// them, and the FileVault escrow profile on Macs whose former blueprint did
// not escrow. Inventory settings and recovery passwords follow at the next
// inventory run.
func (s *Service) blueprintJoinedInTx(ctx context.Context, q *store.Queries, actor string, blueprintID int64, moved []store.MovedDevice) error {
	var active, macs []int64
	var platforms []string
	for _, d := range moved {
		if !d.Active {
			continue
		}
		active = append(active, d.ID)
		platforms = append(platforms, CatalogPlatform(d.Platform))
		if d.MacWithoutEscrow {
			macs = append(macs, d.ID)
		}
	}
	if len(active) == 0 {
		return nil
	}
	b, err := q.Blueprint(ctx, blueprintID)
	if err != nil {
		return err
	}
	if err := s.joinedJobsInTx(ctx, q, b.ID, active, platforms); err != nil {
		return err
	}
	cmds, err := s.syncCommandsFor(ctx, q, &b, active)
	if err != nil {
		return err
	}
	if err := s.queueAndPushInTx(ctx, q, cmds); err != nil {
		return err
	}
	return s.joinedEscrowInTx(ctx, q, actor, b, macs)
}

// joinedJobsInTx queues the profile reconcile of the devices that joined a
// blueprint and a run of each of its enforcements of their platforms.
func (s *Service) joinedJobsInTx(ctx context.Context, q *store.Queries, blueprintID int64, devices []int64, platforms []string) error {
	// A service built without a job client (some edges' tests) has no one
	// to run them.
	if s.jobs == nil {
		return nil
	}
	params := []river.InsertManyParams{{Args: jobargs.ProfileReconcile{DeviceIDs: devices}}}
	enforcements, err := q.SoftwareUpdateEnforcements(ctx, blueprintID)
	if err != nil {
		return err
	}
	for _, e := range enforcements {
		if slices.Contains(platforms, e.Platform) {
			params = append(params, river.InsertManyParams{Args: jobargs.SoftwareUpdateEnforce{BlueprintID: blueprintID, Platform: e.Platform}})
		}
	}
	_, err = s.jobs.InsertManyTx(ctx, q.PgxTx(), params)
	return err
}

// joinedEscrowInTx sends the FileVault escrow profile to Macs that joined an
// escrow blueprint from one without escrow.
func (s *Service) joinedEscrowInTx(ctx context.Context, q *store.Queries, actor string, b store.Blueprint, macs []int64) error {
	if b.FileVault != store.FileVaultEscrow || len(macs) == 0 {
		return nil
	}
	return s.sendEscrowProfileInTx(ctx, q, actor, macs)
}
