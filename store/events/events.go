// Package events carries change notices between orchard processes over
// PostgreSQL LISTEN/NOTIFY: jobs and the device endpoint publish, every API
// process's broker hands them to its GraphQL subscribers.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EventsChannel is the PostgreSQL NOTIFY channel every orchard process listens on.
const EventsChannel = "orchard_events"

// Event topics.
const (
	TopicJob     = "job"
	TopicCommand = "command"
)

// Event tells subscribers that something changed. It carries ids, not state:
// subscribers read the current state, so a NOTIFY payload stays small.
type Event struct {
	Topic string `json:"topic"`
	// Type is what happened: started, progress, completed, failed, ...
	Type string `json:"type"`
	ID   int64  `json:"id"`
	// Kind is the job kind or command request type, for filtering.
	Kind string `json:"kind,omitempty"`
	// DeviceID is the command's device, for filtering.
	DeviceID int64 `json:"device_id,omitempty"`
}

// execer is a pool, connection or transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Publish sends an event to every listening process. Inside a transaction it is
// delivered only if the transaction commits.
func Publish(ctx context.Context, db execer, ev Event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	if _, err := db.Exec(ctx, "SELECT pg_notify($1, $2)", EventsChannel, string(payload)); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
}

// PublishAll sends many events in one round trip (inventory runs queue
// thousands of commands at once).
func PublishAll(ctx context.Context, db execer, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	payloads := make([]string, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("publish events: %w", err)
		}
		payloads[i] = string(b)
	}
	if _, err := db.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) p", EventsChannel, payloads); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}

// Broker listens on EventsChannel and hands each event to this process's subscribers.
type Broker struct {
	pool   *pgxpool.Pool
	logger *slog.Logger

	ready     chan struct{}
	readyOnce sync.Once

	mu   sync.Mutex
	next int
	subs map[int]subscription
}

type subscription struct {
	topic string
	ch    chan Event
	// wake, set instead of ch, holds one signal for any number of events.
	wake chan struct{}
}

// NewBroker returns a broker; Run starts listening.
func NewBroker(pool *pgxpool.Pool, logger *slog.Logger) *Broker {
	return &Broker{pool: pool, logger: logger, subs: map[int]subscription{}, ready: make(chan struct{})}
}

// Subscribe returns events of a topic until cancel is called. A subscriber that
// falls behind by more than the buffer loses events rather than stall others.
func (b *Broker) Subscribe(topic string) (<-chan Event, func()) {
	ch := make(chan Event, 256)
	return ch, b.add(subscription{topic: topic, ch: ch})
}

// Wake returns a channel that holds a signal whenever events of topic
// arrived since it was last read, however many, until cancel is called: for
// a subscriber that only needs to know there is work (the push dispatcher),
// which never falls behind and never loses the last signal.
func (b *Broker) Wake(topic string) (<-chan struct{}, func()) {
	wake := make(chan struct{}, 1)
	return wake, b.add(subscription{topic: topic, wake: wake})
}

// add registers a subscription and returns its cancel.
func (b *Broker) add(s subscription) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs[id] = s
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.subs, id)
			if s.ch != nil {
				close(s.ch)
			}
		})
	}
}

func (b *Broker) dispatch(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		if s.topic != ev.Topic {
			continue
		}
		if s.wake != nil {
			signal(s.wake)
			continue
		}
		select {
		case s.ch <- ev:
		default:
			b.logger.Warn("event subscriber is too slow; event dropped", "topic", ev.Topic, "id", ev.ID)
		}
	}
}

func (b *Broker) wakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		if s.wake != nil {
			signal(s.wake)
		}
	}
}

// signal leaves a wake signal unless one is already waiting.
func signal(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// Run listens until ctx ends, reconnecting after errors.
func (b *Broker) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := b.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		b.logger.Warn("event listener lost its connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (b *Broker) listen(ctx context.Context) error {
	pooled, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection carries LISTEN state: it never goes back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{EventsChannel}.Sanitize()); err != nil {
		return err
	}
	b.readyOnce.Do(func() { close(b.ready) })
	// Events sent while the listener was away are lost: wake subscribers
	// look for work once more.
	b.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil {
			b.logger.Warn("ignoring malformed event", "err", err)
			continue
		}
		b.dispatch(ev)
	}
}

// Ready is closed once the broker listens: events published after it are seen.
func (b *Broker) Ready() <-chan struct{} { return b.ready }
