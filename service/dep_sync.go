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
//
// The next page is asked for while a page is saved, so Apple's answer and
// PostgreSQL's work overlap. Only saves move the stored cursor, in order: a
// page is looked at only once the one before it is saved, and a failed save
// drops the page fetched meanwhile, which the next sync asks for again.
func (s *Service) SyncDEPDevices(ctx context.Context, serverID int64, client *dep.Client, progress func(DEPSyncOutput) error) (DEPSyncOutput, error) {
	var out DEPSyncOutput
	st, err := s.store.DEPSyncStateOf(ctx, serverID)
	if err != nil {
		return out, err
	}
	next := fetchDEPPage(ctx, client, st)
	defer func() { next.abandon() }()
	reset := false
	for {
		out.FullFetch = out.FullFetch || st.Phase == store.DEPPhaseFetch
		page, err := next.wait()
		if dep.CursorReset(err) && !reset {
			reset = true
			if err := s.store.ResetDEPCursor(ctx, serverID); err != nil {
				return out, err
			}
			st = store.DEPSyncState{Phase: store.DEPPhaseFetch}
			next = fetchDEPPage(ctx, client, st)
			continue
		}
		saved, err := checkDEPPage(serverID, st, page, err)
		if err != nil {
			return out, err
		}
		// A finished fetch goes on to sync what changed while it ran.
		done := !saved.More && st.Phase == store.DEPPhaseSync
		if !done {
			next = fetchDEPPage(ctx, client, saved.Next())
		}
		if err := s.saveDEPPage(ctx, serverID, saved, &out); err != nil {
			return out, err
		}
		if err := progress(out); err != nil || done {
			return out, err
		}
		st = saved.Next()
	}
}

// checkDEPPage turns Apple's answer to st into the page to save, or the
// error that ends the sync.
func checkDEPPage(serverID int64, st store.DEPSyncState, page *dep.DevicePage, err error) (store.DEPPage, error) {
	switch {
	case dep.HasCode(err, dep.CodeExhaustedCursor) && st.Phase == store.DEPPhaseFetch:
		// The fetch had ended: finish it and go on syncing.
		page = &dep.DevicePage{Cursor: st.Cursor}
	case err != nil:
		return store.DEPPage{}, fmt.Errorf("virtual server %d: %w", serverID, err)
	case page.MoreToFollow && page.Cursor == st.Cursor:
		// Asking again would get the same page forever.
		return store.DEPPage{}, fmt.Errorf("virtual server %d: Apple announced more devices but did not move the cursor", serverID)
	}
	return store.DEPPage{ServerID: serverID, From: st.Cursor, Phase: st.Phase,
		Devices: page.Devices, Cursor: page.Cursor, More: page.MoreToFollow}, nil
}

func (s *Service) saveDEPPage(ctx context.Context, serverID int64, p store.DEPPage, out *DEPSyncOutput) error {
	counts, err := s.store.SaveDEPPage(ctx, p)
	if err != nil {
		return err
	}
	out.Added, out.Modified, out.Deleted = out.Added+counts.Added, out.Modified+counts.Modified, out.Deleted+counts.Deleted
	out.Pages++
	out.DevicesSeen += len(p.Devices)
	return nil
}

// pendingDEPPage is a page on its way from Apple.
type pendingDEPPage struct {
	done   chan struct{}
	cancel context.CancelFunc
	page   *dep.DevicePage
	err    error
}

// fetchDEPPage asks Apple for the page that follows st, in the background.
func fetchDEPPage(ctx context.Context, c *dep.Client, st store.DEPSyncState) *pendingDEPPage {
	ctx, cancel := context.WithCancel(ctx)
	p := &pendingDEPPage{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		if st.Phase == store.DEPPhaseFetch {
			p.page, p.err = c.FetchDevices(ctx, dep.MaxPage, st.Cursor)
		} else {
			p.page, p.err = c.SyncDevices(ctx, dep.MaxPage, st.Cursor)
		}
	}()
	return p
}

// wait returns Apple's answer once it has come.
func (p *pendingDEPPage) wait() (*dep.DevicePage, error) {
	<-p.done
	p.cancel()
	return p.page, p.err
}

// abandon stops a fetch nobody will look at and waits until it has ended,
// so no request outlives the sync.
func (p *pendingDEPPage) abandon() {
	p.cancel()
	<-p.done
}

// RestartDEPFetch makes a virtual server's next sync fetch every device again.
func (s *Service) RestartDEPFetch(ctx context.Context, serverID int64) error {
	return s.store.ResetDEPCursor(ctx, serverID)
}
