package graph

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
)

const maxPageSize = 500

// page validates first/after for a connection of kind (devices, blueprints, ...).
func page(kind string, first *int, after *string) (store.Page, error) {
	p := store.Page{First: 50}
	if first != nil {
		if *first < 1 || *first > maxPageSize {
			return p, BadInput("first must be between 1 and %d", maxPageSize)
		}
		p.First = *first
	}
	if after != nil && *after != "" {
		id, err := decodeCursor(kind, *after)
		if err != nil {
			return p, err
		}
		p.After = id
	}
	return p, nil
}

// Cursors are opaque to clients: base64 of "<kind>:<id>".
func encodeCursor(kind string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatInt(id, 10)))
}

func decodeCursor(kind, cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, BadInput("malformed cursor")
	}
	k, idText, ok := strings.Cut(string(raw), ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || k != kind || err != nil || id <= 0 {
		return 0, BadInput("malformed cursor for %s", kind)
	}
	return id, nil
}

// parseID reads an object id argument.
func parseID(kind, id string) (int64, error) {
	n, err := model.UnmarshalInt64ID(id)
	if err != nil {
		return 0, BadInput("malformed %s id %q", kind, id)
	}
	return n, nil
}

// edges builds a page's edges, and its PageInfo, from the rows the store
// read; id gives each row's key and edge wraps a row with its cursor.
func edges[T, E any](kind string, list []T, more bool, id func(*T) int64, edge func(cursor string, node *T) E) ([]E, *model.PageInfo) {
	out := make([]E, len(list))
	var last int64
	for i := range list {
		last = id(&list[i])
		out[i] = edge(encodeCursor(kind, last), &list[i])
	}
	return out, pageInfo(kind, more, last, len(list) == 0)
}

func pageInfo(kind string, more bool, lastID int64, empty bool) *model.PageInfo {
	info := &model.PageInfo{HasNextPage: more}
	if !empty {
		c := encodeCursor(kind, lastID)
		info.EndCursor = &c
	}
	return info
}
