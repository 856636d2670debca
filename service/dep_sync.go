package service

import (
	"context"
	"fmt"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
)

// DEPSyncOutput is what a DEP sync did, and its progress while it runs.
type DEPSyncOutput struct {
	Added       int     `json:"added"`
	Modified    int     `json:"modified"`
	Deleted     int     `json:"deleted"`
	Pages       int     `json:"pages"`
	FullFetch   bool    `json:"full_fetch"`
	Duration    float64 `json:"duration_seconds"`
	DevicesSeen int     `json:"devices_seen"`
}

// SyncDEPDevices fetches (the full list, first) or syncs (the changes since)
// a virtual server's devices until Apple has nothing more, saving each page
// with its cursor in one transaction, so a sync cut short resumes where it
// stopped. A cursor Apple forgot starts a full fetch again, once. progress
// hears the output after each page.
func (s *Service) SyncDEPDevices(ctx context.Context, serverID int64, client *dep.Client, progress func(DEPSyncOutput) error) (DEPSyncOutput, error) {
	var out DEPSyncOutput
	reset := false
	for {
		st, err := s.store.DEPSyncStateOf(ctx, serverID)
		if err != nil {
			return out, err
		}
		out.FullFetch = out.FullFetch || st.Phase == store.DEPPhaseFetch
		page, err := depPage(ctx, client, st)
		switch {
		case dep.CursorReset(err) && !reset:
			reset = true
			if err := s.store.ResetDEPCursor(ctx, serverID); err != nil {
				return out, err
			}
			continue
		case dep.HasCode(err, dep.CodeExhaustedCursor) && st.Phase == store.DEPPhaseFetch:
			// The fetch had ended: finish it and go on syncing.
			page = &dep.DevicePage{Cursor: st.Cursor}
		case err != nil:
			return out, fmt.Errorf("virtual server %d: %w", serverID, err)
		case page.MoreToFollow && page.Cursor == st.Cursor:
			// Asking again would get the same page forever.
			return out, fmt.Errorf("virtual server %d: Apple announced more devices but did not move the cursor", serverID)
		}
		if err := s.saveDEPPage(ctx, serverID, st, page, &out); err != nil {
			return out, err
		}
		if err := progress(out); err != nil {
			return out, err
		}
		// A finished fetch goes on to sync what changed while it ran.
		if !page.MoreToFollow && st.Phase == store.DEPPhaseSync {
			return out, nil
		}
	}
}

func (s *Service) saveDEPPage(ctx context.Context, serverID int64, st store.DEPSyncState, page *dep.DevicePage, out *DEPSyncOutput) error {
	counts, err := s.store.SaveDEPPage(ctx, store.DEPPage{ServerID: serverID, From: st.Cursor, Phase: st.Phase,
		Devices: page.Devices, Cursor: page.Cursor, More: page.MoreToFollow})
	if err != nil {
		return err
	}
	out.Added, out.Modified, out.Deleted = out.Added+counts.Added, out.Modified+counts.Modified, out.Deleted+counts.Deleted
	out.Pages++
	out.DevicesSeen += len(page.Devices)
	return nil
}

func depPage(ctx context.Context, c *dep.Client, st store.DEPSyncState) (*dep.DevicePage, error) {
	if st.Phase == store.DEPPhaseFetch {
		return c.FetchDevices(ctx, dep.MaxPage, st.Cursor)
	}
	return c.SyncDevices(ctx, dep.MaxPage, st.Cursor)
}

// RestartDEPFetch makes a virtual server's next sync fetch every device again.
func (s *Service) RestartDEPFetch(ctx context.Context, serverID int64) error {
	return s.store.ResetDEPCursor(ctx, serverID)
}
