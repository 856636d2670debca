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
	if depth := selectionDepth(oc.Doc, oc.Operation.SelectionSet, 0); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": "BAD_USER_INPUT"}
		return err
	}
	return nil
}

// selectionDepth measures fields only: fragments add no depth of their own.
// Validation has already refused fragment cycles, and seen guards the rest.
func selectionDepth(doc *ast.QueryDocument, set ast.SelectionSet, depth int) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = selectionDepth(doc, s.SelectionSet, depth+1)
		case *ast.InlineFragment:
			d = selectionDepth(doc, s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil {
				d = selectionDepth(doc, f.SelectionSet, depth)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
