package service

import (
	"context"
	"sync"

	"github.com/orchardmdm/orchard/store"
)

// depCommitter commits a sync's pages in order, as soon as each is written,
// while the next page is written beside it: PostgreSQL, the bulk of a full
// fetch's work, then writes two pages at a time on two connections, and the
// cursor still moves one page at a time. Two pages are written together only
// when store.OverlapsDEPPage allows (no serial in common, no deletion, not
// the end of a fetch); otherwise a page waits for the one before to commit.
type depCommitter struct {
	ctx      context.Context
	store    *store.Store
	progress func(DEPSyncOutput) error
	queue    chan *depWrite
	stopped  chan struct{}
	once     sync.Once
	// last and before are the two pages written most recently.
	last, before *depWrite

	mu  sync.Mutex
	out DEPSyncOutput
	err error
}

// depWrite is a page being written, then committed.
type depWrite struct {
	page      store.DEPPage
	written   chan struct{}
	w         *store.DEPPageWrite
	err       error
	committed chan struct{}
}

func newDEPCommitter(ctx context.Context, st *store.Store, progress func(DEPSyncOutput) error) *depCommitter {
	c := &depCommitter{ctx: ctx, store: st, progress: progress,
		queue: make(chan *depWrite, 2), stopped: make(chan struct{})}
	go c.run()
	return c
}

// write starts writing p. It first waits until at most one page is
// uncommitted, and until that one is committed unless p may be written
// alongside it. It fails once a commit has failed.
func (c *depCommitter) write(p store.DEPPage, fullFetch bool) error {
	if c.before != nil {
		<-c.before.committed
	}
	if c.last != nil && !store.OverlapsDEPPage(c.last.page, p) {
		<-c.last.committed
	}
	c.mu.Lock()
	c.out.FullFetch = c.out.FullFetch || fullFetch
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	w := &depWrite{page: p, written: make(chan struct{}), committed: make(chan struct{})}
	// Begun here, in page order (store.DEPPageWrite), written beside the
	// commit of the page before.
	w.w, w.err = c.store.BeginDEPPage(c.ctx, p)
	go func() {
		defer close(w.written)
		if w.err == nil {
			w.err = w.w.Write(c.ctx)
		}
	}()
	c.queue <- w
	c.before, c.last = c.last, w
	return nil
}

// settle waits until every page written so far is committed, and returns
// the first failure.
func (c *depCommitter) settle() error {
	if c.last != nil {
		<-c.last.committed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// finish commits what was written and returns the output and the first
// failure. Pages written after a failure are rolled back.
func (c *depCommitter) finish() (DEPSyncOutput, error) {
	c.once.Do(func() { close(c.queue) })
	<-c.stopped
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out, c.err
}

func (c *depCommitter) run() {
	defer close(c.stopped)
	for w := range c.queue {
		<-w.written
		err := w.err
		c.mu.Lock()
		failed := c.err != nil
		c.mu.Unlock()
		switch {
		case err == nil && failed:
			w.w.Rollback(c.ctx)
		case err == nil:
			err = c.commit(w)
		}
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
		close(w.committed)
	}
}

// commit commits a written page and reports the progress.
func (c *depCommitter) commit(w *depWrite) error {
	counts, err := w.w.Commit(c.ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.out.Added, c.out.Modified, c.out.Deleted = c.out.Added+counts.Added, c.out.Modified+counts.Modified, c.out.Deleted+counts.Deleted
	c.out.Pages++
	c.out.DevicesSeen += len(w.page.Devices)
	out := c.out
	c.mu.Unlock()
	return c.progress(out)
}

// end commits what was written and returns the output with the first
// failure: a commit's, else err (nil when the sync went well).
func (c *depCommitter) end(err error) (DEPSyncOutput, error) {
	out, commitErr := c.finish()
	if commitErr != nil {
		return out, commitErr
	}
	return out, err
}
