package service

import (
	"context"
	"errors"
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
// The next page is asked for while a page is saved, and a page may be
// written while the one before commits (depCommitter), so Apple's answers
// and PostgreSQL's work overlap. Only commits move the stored cursor, in
// order; when Apple fails a page, the pages before it are still committed.
func (s *Service) SyncDEPDevices(ctx context.Context, serverID int64, client *dep.Client, progress func(DEPSyncOutput) error) (DEPSyncOutput, error) {
	st, err := s.store.DEPSyncStateOf(ctx, serverID)
	if err != nil {
		return DEPSyncOutput{}, err
	}
	next := fetchDEPPage(ctx, client, st)
	defer func() { next.abandon() }()
	c := newDEPCommitter(ctx, s.store, progress)
	defer c.finish()
	reset := false
	for {
		page, err := next.wait()
		if dep.CursorReset(err) && !reset {
			reset = true
			if err := errors.Join(c.settle(), s.store.ResetDEPCursor(ctx, serverID)); err != nil {
				return c.end(err)
			}
			st = store.DEPSyncState{Phase: store.DEPPhaseFetch}
			next = fetchDEPPage(ctx, client, st)
			continue
		}
		saved, err := checkDEPPage(serverID, st, page, err)
		if err != nil {
			return c.end(err)
		}
		// A finished fetch goes on to sync what changed while it ran.
		done := !saved.More && st.Phase == store.DEPPhaseSync
		if !done {
			next = fetchDEPPage(ctx, client, saved.Next())
		}
		if err := c.write(saved, st.Phase == store.DEPPhaseFetch); err != nil || done {
			return c.end(err)
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
