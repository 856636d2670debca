package graph

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/orchardmdm/orchard/store"
)

// loaders batch the list-to-object edges of one request, so a page of 500
// devices costs one blueprint query, not 500.
type loaders struct {
	blueprint   *dataloadgen.Loader[int64, *store.Blueprint]
	deviceUsers *dataloadgen.Loader[int64, []store.DeviceUser]
	dep         *depLoaders
	location    *dataloadgen.Loader[int64, *store.Location]
	// softwareUpdateStatus and declarationStatus are by device id.
	softwareUpdateStatus *dataloadgen.Loader[int64, *store.SoftwareUpdateStatus]
	declarationStatus    *dataloadgen.Loader[int64, []store.DeclarationStatus]

	// The push topic is read once per request, however many enrollments
	// ask whether theirs is a placeholder.
	topicOnce sync.Once
	topic     string
	topicErr  error
}

type loadersKey struct{}

func newLoaders(s *store.Store) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		blueprint:            dataloadgen.NewLoader(batch(s.BlueprintsByIDs), wait),
		deviceUsers:          dataloadgen.NewLoader(batch(s.DeviceUsersByDeviceIDs), wait),
		dep:                  newDEPLoaders(s, wait),
		location:             dataloadgen.NewLoader(batch(s.LocationsByIDs), wait),
		softwareUpdateStatus: dataloadgen.NewLoader(batch(s.SoftwareUpdateStatusesByDeviceIDs), wait),
		declarationStatus:    dataloadgen.NewLoader(batch(s.DeclarationStatusesByDeviceIDs), wait),
	}
}

// pushTopic is get's answer, asked once per request.
func (l *loaders) pushTopic(ctx context.Context, get func(context.Context) (string, error)) (string, error) {
	l.topicOnce.Do(func() { l.topic, l.topicErr = get(ctx) })
	return l.topic, l.topicErr
}

// LoaderMiddleware gives each request its own loaders (no cross-request cache).
func LoaderMiddleware(s *store.Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), loadersKey{}, newLoaders(s))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// loadersFrom returns the request's loaders, or fresh ones (websocket
// subscriptions run outside the request middleware).
func (r *Resolver) loadersFrom(ctx context.Context) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(r.Store)
}

// batch adapts a store's by-keys loader to dataloadgen: one error for all.
func batch[K comparable, V any](load func(context.Context, []K) ([]V, error)) func(context.Context, []K) ([]V, []error) {
	return func(ctx context.Context, keys []K) ([]V, []error) {
		found, err := load(ctx, keys)
		if err != nil {
			return nil, []error{err}
		}
		return found, nil
	}
}

// pointers lists the addresses of a slice's elements, as gqlgen wants them.
func pointers[T any](list []T) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

// primeDevices gives the loaders what a page of devices read with its rows,
// so the page's blueprint and users fields need no statement of their own.
func (l *loaders) primeDevices(devices []store.ListedDevice, inc store.DeviceIncludes) {
	for i := range devices {
		d := &devices[i]
		if inc.Blueprint && d.Blueprint != nil {
			l.blueprint.Prime(d.Blueprint.ID, d.Blueprint)
		}
		if inc.Users {
			l.deviceUsers.Prime(d.ID, d.Users)
		}
		if inc.SoftwareUpdateStatus {
			l.softwareUpdateStatus.Prime(d.ID, d.SoftwareUpdateStatus)
		}
		if inc.DeclarationStatus {
			l.declarationStatus.Prime(d.ID, d.DeclarationStatus)
		}
	}
}
