package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations nested deeper than max, before any resolver runs.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := depthMeter{doc: oc.Doc, fragments: map[string]int{}}
	if depth := m.depth(oc.Operation.SelectionSet); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": "BAD_USER_INPUT"}
		return err
	}
	return nil
}

// depthMeter measures fields only: fragments add no depth of their own.
// Each fragment is measured once: a fragment spreading another twice, n
// levels down, would otherwise be walked 2^n times.
type depthMeter struct {
	doc       *ast.QueryDocument
	fragments map[string]int
}

func (m depthMeter) depth(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = 1 + m.depth(s.SelectionSet)
		case *ast.InlineFragment:
			d = m.depth(s.SelectionSet)
		case *ast.FragmentSpread:
			d = m.fragment(s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// fragment is a named fragment's depth. Validation has already refused
// fragment cycles; the entry made before the walk guards the rest.
func (m depthMeter) fragment(name string) int {
	if d, ok := m.fragments[name]; ok {
		return d
	}
	m.fragments[name] = 0
	d := 0
	if f := m.doc.Fragments.ForName(name); f != nil {
		d = m.depth(f.SelectionSet)
	}
	m.fragments[name] = d
	return d
}
