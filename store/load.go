package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// loadByKeys runs query (with the keys as $1, e.g. "... WHERE id = ANY($1)")
// for a dataloader and returns the rows in the order of keys, nil where a key
// matched nothing. key says which field of a row the keys are matched on.
func loadByKeys[T any, K comparable](ctx context.Context, db DB, what, query string, keys []K,
	scan func(pgx.Row) (T, error), key func(*T) K) ([]*T, error) {
	rows, err := db.Query(ctx, query, keys)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	byKey := make(map[K]*T, len(found))
	for i := range found {
		byKey[key(&found[i])] = &found[i]
	}
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out, nil
}

// groupByKeys sorts rows into one list per key, in the order of keys (nil
// where a key has none), for a dataloader of one-to-many edges.
func groupByKeys[T any](keys []int64, rows []T, key func(*T) int64) [][]T {
	byKey := make(map[int64][]T, len(keys))
	for i := range rows {
		k := key(&rows[i])
		byKey[k] = append(byKey[k], rows[i])
	}
	out := make([][]T, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}
