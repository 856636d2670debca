package service

import (
	"context"
	"errors"
	"strings"

	"github.com/orchardmdm/orchard/store"
)

// CreateBlueprint makes an empty blueprint with a unique name.
func (s *Service) CreateBlueprint(ctx context.Context, actor, name string) (store.Blueprint, error) {
	var b store.Blueprint
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return b, invalid("a blueprint name must be 1 to 200 characters")
	}
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		if b, err = q.CreateBlueprint(ctx, name); errors.Is(err, store.ErrConflict) {
			return invalid("a blueprint named %q already exists", name)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "blueprint.create", objectType: "blueprint",
			objectID: idString(b.ID), data: map[string]any{"name": name}})
	})
	return b, err
}
