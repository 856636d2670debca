package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/orchardmdm/orchard/store"
)

// loaders batch the list-to-object edges of one request, so a page of 500
// devices costs one blueprint query, not 500.
type loaders struct {
	blueprint *dataloadgen.Loader[int64, *store.Blueprint]
	dep       *depLoaders
}

type loadersKey struct{}

func newLoaders(s *store.Store) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		blueprint: dataloadgen.NewLoader(func(ctx context.Context, ids []int64) ([]*store.Blueprint, []error) {
			found, err := s.BlueprintsByIDs(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			return found, nil
		}, wait),
		dep: newDEPLoaders(s, wait),
	}
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
