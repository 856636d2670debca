package events

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// maxBatch bounds the events one NOTIFY statement carries.
const maxBatch = 1000

// Publisher sends, in batches, events of changes already committed (device
// requests, queued commands, push wake-ups, job outcomes). A transaction that calls pg_notify holds PostgreSQL's one
// notification lock from just before its commit until the commit is on disk,
// so notifying commits go one at a time, each waiting for its own flush:
// with a status event in every device request, commits could not be grouped
// and the command path ran at a few hundred exchanges a second whatever the
// hardware. The publisher sends whatever accumulated while its last batch
// committed as one statement, off the request that made the change.
//
// An event handed to Send after its change committed is lost if the process
// dies before the batch goes out: subscribers read current state, and the
// next change of the same object publishes again.
type Publisher struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	queue  chan Event

	// dropped counts events dropped since the last warning; lastWarning
	// (Unix nanoseconds) keeps a full queue to one warning a second.
	dropped, lastWarning atomic.Int64
}

// NewPublisher returns a publisher; Run sends what Send queues.
func NewPublisher(pool *pgxpool.Pool, logger *slog.Logger) *Publisher {
	return &Publisher{pool: pool, logger: logger, queue: make(chan Event, 16*maxBatch)}
}

// Send queues events for the next batch without waiting. A publisher so far
// behind that its queue is full (the database unreachable) drops them.
func (p *Publisher) Send(evs ...Event) {
	for _, ev := range evs {
		select {
		case p.queue <- ev:
		default:
			p.drop()
		}
	}
}

// drop counts an event dropped and warns at most once a second.
func (p *Publisher) drop() {
	n := p.dropped.Add(1)
	now, last := time.Now().UnixNano(), p.lastWarning.Load()
	if now-last >= int64(time.Second) && p.lastWarning.CompareAndSwap(last, now) {
		p.dropped.Add(-n)
		p.logger.Warn("event publisher is behind; events dropped", "events", n)
	}
}

// Run publishes batches until ctx ends, then sends what is still queued.
func (p *Publisher) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.flush(context.WithoutCancel(ctx))
			return
		case ev := <-p.queue:
			p.publish(context.WithoutCancel(ctx), p.gather([]Event{ev}))
		}
	}
}

// publish sends one batch: a batch taken from the queue is sent even when
// Run is told to stop meanwhile, within publishTimeout.
func (p *Publisher) publish(ctx context.Context, batch []Event) bool {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := PublishAll(ctx, p.pool, batch); err != nil {
		p.logger.Warn("cannot publish events; they are dropped", "events", len(batch), "err", err)
		return false
	}
	return true
}

// publishTimeout bounds one batch, and the flush of the queue at shutdown.
const publishTimeout = 5 * time.Second

// gather adds to batch what is already queued, up to maxBatch.
func (p *Publisher) gather(batch []Event) []Event {
	for len(batch) < maxBatch {
		select {
		case ev := <-p.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// flush sends what is queued when Run stops.
func (p *Publisher) flush(ctx context.Context) {
	for {
		batch := p.gather(nil)
		if len(batch) == 0 || !p.publish(ctx, batch) {
			return
		}
	}
}
