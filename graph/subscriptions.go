package graph

import (
	"context"

	"github.com/orchardmdm/orchard/store/events"
)

// subscribe streams one broker topic to a GraphQL subscriber. toModel reads
// what the event names as it is now and says whether the subscriber wants it;
// events it declines (filtered out, or the object is gone) are skipped. The
// stream ends, and the broker subscription with it, when ctx ends.
func subscribe[T any](ctx context.Context, broker *events.Broker, topic string, toModel func(events.Event) (T, bool)) <-chan T {
	evs, cancel := broker.Subscribe(topic)
	out := make(chan T, 16)
	go func() {
		defer close(out)
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-evs:
				if !ok {
					return
				}
				v, want := toModel(ev)
				if !want {
					continue
				}
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
