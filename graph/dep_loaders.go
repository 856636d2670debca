package graph

import (
	"github.com/vikstrous/dataloadgen"

	"github.com/orchardmdm/orchard/store"
)

// depLoaders batch the edges of DEP lists: a page of 500 DEP devices costs
// one virtual-server query and one profile query.
type depLoaders struct {
	server      *dataloadgen.Loader[int64, *store.DEPVirtualServer]
	tokenServer *dataloadgen.Loader[int64, *store.DEPVirtualServer]
	token       *dataloadgen.Loader[int64, *store.DEPToken]
	profile     *dataloadgen.Loader[int64, *store.DEPProfile]
	profileUUID *dataloadgen.Loader[string, *store.DEPProfile]
}

func newDEPLoaders(s *store.Store, opt dataloadgen.Option) *depLoaders {
	return &depLoaders{
		server:      dataloadgen.NewLoader(batch(s.DEPVirtualServersByIDs), opt),
		tokenServer: dataloadgen.NewLoader(batch(s.DEPVirtualServersByTokenIDs), opt),
		token:       dataloadgen.NewLoader(batch(s.DEPTokensByIDs), opt),
		profile:     dataloadgen.NewLoader(batch(s.DEPProfilesByIDs), opt),
		profileUUID: dataloadgen.NewLoader(batch(s.DEPProfilesByUUIDs), opt),
	}
}
