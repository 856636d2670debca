package service

import (
	"context"

	"github.com/orchardmdm/orchard/store"
)

// blueprintsChanged is called in the transaction of a change to what these
// blueprints deliver.
func (s *Service) blueprintsChanged(ctx context.Context, q *store.Queries, blueprintIDs []int64) error {
	return nil
}
